"""Benchmarks that cannot rot: each one runs here in its smoke mode (`--smoke`: one small run).

What is asserted is what the report says, never how fast: a benchmark that no longer runs
against today's code, or no longer measures what it says, fails the suite. The figures of a
smoke run mean nothing. None is in the fast loop: each runs in a fresh interpreter, and is
marked by what it does (`server`, `browser`, `slow`; docs/testing.md).
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roles import LEVELS, MANAGED_POLICY_LIMIT

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"-?\d+(?:\.\d+)?"


def smoke(name, timeout):
    """`python -m benchmarks.<name> --smoke` from the repo root: its report (stdout)."""
    # A session of its own, so a run that times out takes its sandbox and browser with it.
    process = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", "--smoke"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"benchmarks.{name} --smoke ran over {timeout} s:\n{out}\n{err}")
    assert process.returncode == 0, f"benchmarks.{name} --smoke failed:\n{out}\n{err}"
    return out


def line(report, pattern):
    """The groups of the one report line that matches `pattern` (from its start)."""
    found = [m for m in (re.match(pattern, l) for l in report.splitlines()) if m]
    assert len(found) == 1, f"expected one line matching {pattern!r} in:\n{report}"
    return found[0].groups()


@pytest.mark.server  # the benchmark serves a JWKS on 127.0.0.1
def test_authorizer_smoke():
    report = smoke("authorizer", timeout=120)
    calls, fetches, p50, p99 = line(
        report, rf"warm decision \((\d+) calls, JWKS fetched (\d+)x\): p50 ({NUMBER}) ms, "
                rf"p99 ({NUMBER}) ms")
    assert int(calls) > 0
    assert fetches == "1"  # warm means the JWKS was fetched once, not per decision
    assert float(p50) >= 0 and float(p99) >= float(p50)
    handler, alone = line(report, rf"cold import of authorizer\.handler: ({NUMBER}) ms "
                                  rf"\(interpreter alone ({NUMBER}) ms")
    assert float(alone) > 0


@pytest.mark.slow  # a fresh interpreter runs the benchmark
def test_client_signing_smoke():
    report = smoke("client_signing", timeout=120)
    (prepare,) = line(report, rf"prepare only: ({NUMBER}) us per request")
    (ours,) = line(report, rf"signing overhead, this client: ({NUMBER}) us per request")
    (builtin,) = line(report, rf"signing overhead, MLflow built-in \(MLFLOW_TRACKING_AWS_SIGV4\): "
                              rf"({NUMBER}) us")
    (ratio,) = line(report, rf"ratio: ({NUMBER})x less overhead")
    assert float(prepare) > 0


@pytest.mark.slow  # a fresh interpreter runs the benchmark
def test_team_policies_smoke():
    report = smoke("team_policies", timeout=120)
    (limit,) = line(report, r"team name of 32 characters, \S+; managed policy limit (\d+)")
    assert int(limit) == MANAGED_POLICY_LIMIT
    for level in LEVELS:
        row = [int(x) for x in line(report, rf"{re.escape(level)}\s+" + r"\s+".join([r"(-?\d+)"] * 7)
                                    + r"\s*$")]
        api_docs, api_largest, _, team_docs, team_largest, _, _ = row
        assert api_docs >= 1 and team_docs >= 1
        assert 0 < api_largest <= MANAGED_POLICY_LIMIT and 0 < team_largest <= MANAGED_POLICY_LIMIT


@pytest.mark.slow  # about 10 s: a fresh interpreter runs the whole program under mocks
def test_central_program_smoke():
    report = smoke("central_program", timeout=300)
    resources, cold, warm = line(
        report, rf"central program under mocks, (\d+) resources: cold ({NUMBER}) s .*"
                rf"warm ({NUMBER}) s")
    assert int(resources) > 0 and float(cold) > 0 and float(warm) > 0


@pytest.mark.slow  # starts a sandbox of its own
def test_sandbox_gateway_smoke():
    report = smoke("sandbox_gateway", timeout=300)
    (ready,) = line(report, rf"start to ready: ({NUMBER}) s")
    assert float(ready) > 0
    for path in ("MLflow direct", "gateway, SigV4", "gateway, token"):
        rps, p50, p99, errors = line(
            report, rf"{re.escape(path)}\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\d+)\s*$")
        assert errors == "0", f"{path}: requests of the workload failed:\n{report}"
        assert float(p50) > 0 and float(p99) >= float(p50)
    for path in ("gateway, SigV4", "gateway, token"):
        line(report, rf"overhead per request, {re.escape(path)}: ({NUMBER}) ms at p50")
    rate, calls, requests = line(
        report, rf"authorizer cache hit rate: ({NUMBER})% \((\d+) authorizer calls for "
                rf"(\d+) token requests\)")
    assert int(requests) > 0 and 0 < int(calls) <= int(requests)


@pytest.mark.slow  # starts a sandbox of its own
@pytest.mark.browser
def test_ui_service_worker_smoke():
    report = smoke("ui_service_worker", timeout=300)
    rounds, requests = line(report, r"(\d+) rounds x (\d+) requests each way, /ajax-api/")
    assert int(rounds) >= 1 and int(requests) >= 1
    for way in ("through the service worker", "token set by the page"):
        p50, p99 = line(report, rf"{way}\s+({NUMBER})\s+({NUMBER})\s*$")
        assert float(p50) > 0 and float(p99) >= float(p50)
    line(report, rf"service worker overhead: ({NUMBER}) ms per request at p50 \(({NUMBER})x\)")
    (sign_in,) = line(report, rf"sign-in to MLflow's first page: median ({NUMBER}) s")
    assert float(sign_in) > 0


def test_every_benchmark_has_a_smoke_test():
    modules = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")
    assert modules, "no benchmarks found"
    missing = [m for m in modules if not callable(globals().get(f"test_{m}_smoke"))]
    assert missing == [], f"benchmarks without a smoke test here (test_<name>_smoke): {missing}"


@pytest.mark.slow  # the central program under mocks twice
def test_scale_smoke():
    from benchmarks.scale import LIMITS

    report = smoke("scale", timeout=600)
    resources = []
    for teams in (3, 6):
        seconds, cpu, count = line(report, rf"{teams} teams: central program under mocks in "
                                           rf"({NUMBER}) s \(({NUMBER}) s CPU\), ([\d,]+) "
                                           r"resources")
        assert float(seconds) > 0 and float(cpu) > 0
        resources.append(int(count.replace(",", "")))
    assert resources[1] > resources[0]  # more teams, more roles, groups, routes
    for name, (limit, _, _) in LIMITS.items():
        cells = line(report, rf"\| {re.escape(name)}: {limit:,}, .*\| ([\d,]+) \((\d+) %\) \| "
                             rf"([\d,]+) \((\d+) %\) \| (.+) \|$")
        for value, percent in (cells[0:2], cells[2:4]):
            assert round(100 * int(value.replace(",", "")) / limit) == int(percent), name
        assert re.fullmatch(r"~[\d,]+|never \(constant\)|reached", cells[4]), cells[4]


@pytest.mark.slow  # a fresh interpreter, and one process per team, each importing MLflow
@pytest.mark.server  # starts a sandbox of its own, on a PostgreSQL of its own
def test_load_smoke():
    report = smoke("load", timeout=600)
    teams, writers, runs, rounds = line(
        report, r"load: (\d+) teams x (\d+) writers x (\d+) runs, (\d+) round.*PostgreSQL")
    ops = {}
    for path in ("MLflow direct", "gateway, SigV4"):
        count, wall, rate, p50, p99, errors, lost = line(
            report, rf"{re.escape(path)}\s+(\d+)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+"
                    rf"({NUMBER})\s+(\d+)\s+(\d+)\s*$")
        assert (errors, lost) == ("0", "0"), f"{path}: errors or writes lost:\n{report}"
        assert float(rate) > 0 and float(p50) > 0 and float(p99) >= float(p50)
        ops[path] = int(count)
    # every writer's runs, each: create, its batch, its artifacts, end; one version per team
    expected = (int(teams) * int(writers) * int(runs) * 4 + int(teams)) * int(rounds)
    assert ops == {"MLflow direct": expected, "gateway, SigV4": expected}, report
    for op in ("create_run", "log_batch", "log_artifacts", "end_run", "register"):
        line(report, rf"  {op}\s+MLflow direct:\s+\d+\s+{NUMBER}\s+/\s+{NUMBER}\s+"
                     rf"gateway, SigV4:\s+\d+\s+{NUMBER}\s+/\s+{NUMBER}\s*$")
    (ratio,) = line(report, rf"gateway / direct throughput: ({NUMBER}) \(target >= 0\.90")
    assert float(ratio) > 0
