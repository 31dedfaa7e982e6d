"""Pulumi ComponentResources of the landing zone, one concern per file.

`CentralAccount` (central_account.py) composes the central stack; each part is usable alone.
"""
