"""The task's memory budget counts every process MLflow starts (issue 26, item 5): the job
runner's consumers and the jobs that may run at once, as the installed MLflow has them."""

import json
import subprocess
import sys

import pytest

from spec.sizing import JOB_CONCURRENCY_ENV, JOB_FUNCTIONS, job_slots

# MLflow reads each job function's concurrency at import: read it in a process with the task's
# environment
READ_JOBS = """
import json
from mlflow.server.jobs import _SUPPORTED_JOB_FUNCTION_LIST
from mlflow.server.jobs.utils import _load_function
jobs = {}
for name in _SUPPORTED_JOB_FUNCTION_LIST:
    meta = _load_function(name)._job_fn_metadata
    jobs[meta.name] = meta.max_workers
print(json.dumps(jobs))
"""


def installed_jobs(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", READ_JOBS], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow  # imports MLflow's GenAI job modules in a process of their own
def test_the_budget_lists_every_job_function_at_the_tasks_concurrency():
    import os

    env = {**os.environ, **{k: str(v) for k, v in JOB_CONCURRENCY_ENV.items()}}
    jobs = installed_jobs(env)
    assert set(jobs) == set(JOB_FUNCTIONS), "a job function MLflow has and the budget lacks"
    assert jobs == {name: JOB_CONCURRENCY_ENV[c] if isinstance(c, str) else c
                    for name, c in JOB_FUNCTIONS.items()}
    assert sum(jobs.values()) == job_slots() == 8
    # without the task's settings MLflow would run 47 at once: what the settings are for
    defaults = installed_jobs({k: v for k, v in os.environ.items()
                               if k not in JOB_CONCURRENCY_ENV})
    assert sum(defaults.values()) == 47
