"""What the load benchmark reads from the servers' logs to say why calls failed."""

import json

from benchmarks.load import log_sizes, refusals_since, why


def test_the_refusals_of_a_phase_come_from_both_logs_and_only_that_phase(tmp_path):
    before = {"status": 504, "path": "/team-a/api/2.0/mlflow/runs/log-batch",
              "error": "Endpoint request timed out"}
    (tmp_path / "access.log").write_text(json.dumps(before) + "\n")
    (tmp_path / "mlflow.log").write_text(
        '2026/12/04 18:33:29 INFO:     127.0.0.1:1 - "POST /api/3.0/mlflow/workspaces '
        'HTTP/1.1" 400 Bad Request\n')
    sizes = log_sizes(tmp_path)
    with open(tmp_path / "access.log", "a") as log:
        for record in (before, before, {"status": 200, "path": "/team-a/api/2.0/mlflow/runs/get"},
                       {"status": 500, "path": "/team-a/api/2.0/mlflow/runs/get"}):
            log.write(json.dumps(record) + "\n")
    with open(tmp_path / "mlflow.log", "a") as log:
        log.write('2026/12/04 18:40:00 INFO:     127.0.0.1:2 - "POST /api/2.0/mlflow/runs/'
                  'log-batch HTTP/1.1" 400 Bad Request\n'
                  '2026/12/04 18:40:00 INFO:     127.0.0.1:2 - "GET /api/2.0/mlflow/runs/get?'
                  'run_id=1 HTTP/1.1" 200 OK\nTraceback (most recent call last):\n')
    found = refusals_since(tmp_path, sizes)
    assert dict(found["gateway"]) == {(504, "runs/log-batch", "Endpoint request timed out"): 2,
                                      (500, "runs/get", "MLflow's answer"): 1}
    assert dict(found["mlflow"]) == {(400, "runs/log-batch", ""): 1}


def test_an_error_names_the_status_the_client_gave_up_on():
    error = Exception("API request to http://127.0.0.1:1/x failed with exception "
                      "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with "
                      "url: /x (Caused by ResponseError('too many 504 error responses'))")
    assert why(error).startswith("HTTP 504: Exception: API request to")
    assert why(ValueError("no")) == "ValueError: no"
