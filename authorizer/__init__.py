"""The Lambda authorizer for browser and token access (see handler.py).

Imports nothing at package level, so the Lambda's cold start pays only for what it uses.
"""
