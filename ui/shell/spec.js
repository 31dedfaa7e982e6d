// The landing zone's facts the sign-in shell uses.
// Generated from spec/ by python -m spec.generate; do not edit.
self.LZSpec = Object.freeze({
  "levels": [
    "reader",
    "contributor",
    "model-approver",
    "admin"
  ],
  "defaultWorkspace": "default",
  "workspaceHeader": "X-MLFLOW-WORKSPACE",
  "teamGroupSeparator": ":",
  "sharedLevel": "reader"
});
