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


# Memory, measured on the sandbox's `mlflow server` (MLflow 3.17.2, Python 3.11/3.12): about
# 290 MB resident per uvicorn worker, 240 MB for the job runner (huey) beside them. A task gets
# as many workers as 80 % of its memory holds after the job runner, at most 4 per vCPU.
WORKER_MB = 300
JOB_RUNNER_MB = 300
MIN_WORKERS = 2


def workers_for(cpu: int, memory: int) -> int:
    """The uvicorn workers of a task of `cpu` units (1024 = 1 vCPU) and `memory` MB."""
    by_memory = int((0.8 * memory - JOB_RUNNER_MB) // WORKER_MB)
    return max(1, min(by_memory, max(MIN_WORKERS, 4 * cpu // 1024)))


def min_memory_mb(cpu: int) -> int:
    """The least memory (MB) a task needs for MIN_WORKERS workers and the job runner."""
    return int(-(-(MIN_WORKERS * WORKER_MB + JOB_RUNNER_MB) // 0.8))
