"""The spec room: what the stacks, the edge, the authorizer's deployment and the sandbox agree
on, written once, and the one parser of the stack config (`Pulumi.<stack>.yaml`):

- `spec.config`: the stack config parsed and checked into typed values; every error names the
  key, as `pulumi preview` shows it. `components/` and `sandbox/` both read the config here;
- `spec.edge`: the stage, the API's routes and which channel each takes (SigV4 or a token),
  the workspace and identity headers, the `default` workspace, gateway responses, token and
  cache lifetimes, the resource policy, the cross-site rules the web ACL and the sandbox's
  gateway apply;
- `spec.accounts`: the accounts' roles, their names, ARNs and trust, the team groups
  (`<team>:<level>`), S3 prefixes and policies, session lengths, the platform's Cognito groups
  and password policy, what a team stack puts in its jobs' environment;
- `spec.server`: the tracking server's port, the `mlflow server` flags the image and the
  sandbox share, the image's environment;
- `spec.sizing`: the network's subnet layout and the tracking server's workers per task;
- `spec.generate` (`python -m spec.generate [--check]`): the files that carry these facts to
  the parts that cannot import `spec` (the client, the server plugin, the authorizer, the UI).
- `spec.stack_file`: a `Pulumi.<stack>.yaml` file read as the Pulumi engine hands it to the
  program, into the same `spec.config.load` (the sandbox runs the stack config through it).

Pulumi-free: `roles/` is the permission model (levels, route catalogue, policy compilers) and
never imports from here; this imports from it.
"""
