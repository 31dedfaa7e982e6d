"""What the stacks, the edge, the authorizer's deployment and the sandbox agree on, written once:

- `contracts.edge`: the API's routes and which channel each takes (SigV4 or a token), the
  workspace and identity headers, gateway responses, token and cache lifetimes, the resource
  policy, the cross-site rules the web ACL and the sandbox's gateway apply;
- `contracts.accounts`: the accounts' roles, their names and trust, S3 prefixes and policies,
  session lengths, the platform's Cognito groups.

`roles/` is the permission model (levels, route catalogue, policy compilers) and never imports
from here; this imports from it.
"""
