"""Sizes the stacks plan with and the config checks against: the network's subnet layout and
the tracking server's workers per task. Pulumi-free, so the config parser (and the sandbox)
can check a stack config without loading a provider."""

import math

# Each AZ's subnets, in the order awsx lays them out: the tasks' subnet (/20, 4,096 addresses:
# room for a scaled-out service and the endpoints' interfaces) and, with NAT, a public /24 for
# the NAT gateways.
SUBNET_MASKS = {"none": (20,), "single": (20, 24), "one-per-az": (20, 24)}


def _new_bits(count: int) -> int:
    return math.ceil(math.log2(count)) if count > 1 else 0


def fits(prefix: int, availability_zones: int, nat: str) -> bool:
    """Whether awsx's AUTO layout fits this VPC: it splits the VPC into 2^ceil(log2(AZs)) equal
    blocks, one per AZ, and each AZ's subnets must fit in its block (pulumi-awsx
    `subnetDistributorNew.getSubnetSpecs`, which refuses the rest only at `pulumi up`)."""
    az_block = 2 ** (32 - prefix - _new_bits(availability_zones))
    return sum(2 ** (32 - mask) for mask in SUBNET_MASKS[nat]) <= az_block


def largest_prefix(availability_zones: int, nat: str) -> int:
    """The smallest VPC (the longest prefix) whose layout fits."""
    return max(p for p in range(8, 29) if fits(p, availability_zones, nat))


# Memory, measured on `mlflow server` (MLflow 3.17.2, Python 3.11, SQLite, idle; each process's
# proportional set size, so shared library pages are counted once; the job runner again on
# 3.18.0, 2026-12-04):
# - each uvicorn worker: about 290 MB resident under requests;
# - the `mlflow server` process that starts the others stays resident beside them: 190 MB;
# - MLflow's job runner starts a Python process with MLflow loaded for itself (170 MB), one huey
#   consumer for each of its job functions and one for the periodic tasks (178 MB each): with
#   3.17.2's 6 job functions, 8 processes and 1.4 GB before any job runs; 3.18.0's 7, 9
#   processes and 1.6 GB (the runner 175 MB, each consumer 180 MB);
# - each running job is a subprocess of its own (MLflow loaded: 170 MB), as many at once as its
#   function's concurrency allows: a judge's model client and trace batch come on top, so each is
#   budgeted at JOB_MB (an allowance, not a measurement).
# A task gets as many workers as 80 % of its memory holds after all of these, at most 4 per vCPU.
WORKER_MB = 300
SERVER_MB = 200
JOB_PROCESS_MB = 180  # the job runner, and each huey consumer it starts
JOB_MB = 250  # each job running at once
MIN_WORKERS = 2

# How many jobs of each kind may run at once: MLflow reads these at import (10 judges and 5
# online scorings per function and 5 scheduled issue detections by default, 47 jobs at once in
# all: 11 GB). The task sets them (components/tracking_server.py); a judge waits in the queue
# instead of starving the workers.
JOB_CONCURRENCY_ENV = {
    "MLFLOW_SERVER_JUDGE_INVOKE_MAX_WORKERS": 1,
    "MLFLOW_SERVER_ONLINE_SCORING_MAX_WORKERS": 1,
    # MLflow 3.18's scheduled issue detection (5 at once by default): unattended judges on a
    # cadence, which wait their turn as the others do
    "MLFLOW_SERVER_SCHEDULED_ISSUE_DETECTION_MAX_WORKERS": 1,
}
# MLflow's job functions (mlflow.server.jobs._SUPPORTED_JOB_FUNCTION_LIST, by job name) and how
# many of each run at once: the variable above that sets it, or MLflow's fixed number. A new MLflow
# with another job function fails tests/spec/test_sizing.py until it is listed here.
JOB_FUNCTIONS = {
    "invoke_scorer": "MLFLOW_SERVER_JUDGE_INVOKE_MAX_WORKERS",
    "invoke_genai_evaluate": "MLFLOW_SERVER_JUDGE_INVOKE_MAX_WORKERS",
    "invoke_issue_detection": "MLFLOW_SERVER_JUDGE_INVOKE_MAX_WORKERS",
    "run_online_trace_scorer": "MLFLOW_SERVER_ONLINE_SCORING_MAX_WORKERS",
    "run_online_session_scorer": "MLFLOW_SERVER_ONLINE_SCORING_MAX_WORKERS",
    "scheduled_issue_detection": "MLFLOW_SERVER_SCHEDULED_ISSUE_DETECTION_MAX_WORKERS",
    "optimize_prompts": 2,  # mlflow.genai.optimize.job._DEFAULT_OPTIMIZATION_JOB_MAX_WORKERS
}


def job_slots() -> int:
    """The most jobs that run at once in one task."""
    return sum(JOB_CONCURRENCY_ENV[c] if isinstance(c, str) else c
               for c in JOB_FUNCTIONS.values())


def fixed_mb() -> int:
    """A task's memory besides its uvicorn workers: the server's own process, the job runner
    with its consumers (one per job function and one for periodic tasks), and the jobs
    running at once."""
    return SERVER_MB + (2 + len(JOB_FUNCTIONS)) * JOB_PROCESS_MB + job_slots() * JOB_MB


def workers_for(cpu: int, memory: int) -> int:
    """The uvicorn workers of a task of `cpu` units (1024 = 1 vCPU) and `memory` MB."""
    by_memory = int((0.8 * memory - fixed_mb()) // WORKER_MB)
    return max(1, min(by_memory, max(MIN_WORKERS, 4 * cpu // 1024)))


def min_memory_mb(cpu: int) -> int:
    """The least memory (MB) a task needs for MIN_WORKERS workers beside the job runner, its
    consumers and its jobs."""
    return int(-(-(MIN_WORKERS * WORKER_MB + fixed_mb()) // 0.8))
