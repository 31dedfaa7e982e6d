"""The tracking server's database pool holds two connections for each handler it runs at once:
MLflow's writes take two at a time, and a pool smaller than that deadlocks under many writers
(spec/server.py)."""

import asyncio

import anyio
import anyio.to_thread
import pytest
from sqlalchemy import event

from mlflow_landing_zone_server.threads import HandlerThreads
from spec.server import CONNECTIONS_PER_HANDLER, HANDLER_THREADS, POOL_ENV

from tests.mlflow_image.test_mlflow_image import ENV, load


@pytest.fixture(autouse=True)
def main_thread_keeps_an_event_loop():
    """anyio.run (asyncio.run) leaves the main thread without a current event loop, which
    Pulumi's mocked runtime, in later tests of the same process, needs."""
    yield
    asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """MLflow's own SQL store on a file, on a QueuePool (as on PostgreSQL), counting how many
    of its connections are checked out at once."""
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "QueuePool")
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    store.held = {"now": 0, "most": 0}

    @event.listens_for(store.engine, "checkout")
    def checkout(*_):
        store.held["now"] += 1
        store.held["most"] = max(store.held["most"], store.held["now"])

    @event.listens_for(store.engine, "checkin")
    def checkin(*_):
        store.held["now"] -= 1

    return store


def most_held(store, call):
    store.held["most"] = 0
    result = call()
    assert store.held["now"] == 0  # every connection back in the pool
    return store.held["most"], result


def test_a_write_holds_two_connections_at_once_and_no_call_more(store):
    from mlflow.entities import Metric, Param, RunTag

    experiment = store.create_experiment("pool")
    held, run = most_held(store, lambda: store.create_run(experiment, "u", 0, [], "r"))
    run_id = run.info.run_id
    held_by = {"create_run": held}
    for name, call in {
        "log_batch": lambda: store.log_batch(
            run_id, [Metric("m", 1.0, 0, s) for s in range(30)], [Param("p", "1")],
            [RunTag("t", "1")]),
        "log_batch again": lambda: store.log_batch(
            run_id, [Metric("m", 2.0, 1, s) for s in range(30)], [], []),
        "get_run": lambda: store.get_run(run_id),
        "set_terminated": lambda: store.update_run_info(run_id, 3, 1, None),
    }.items():
        held_by[name] = most_held(store, call)[0]
    # the run is read in one session while the metrics are written in another
    assert held_by == {"create_run": 2, "log_batch": 2, "log_batch again": 2, "get_run": 1,
                       "set_terminated": 1}
    assert max(held_by.values()) == CONNECTIONS_PER_HANDLER


def test_the_pool_holds_two_connections_for_each_handler_thread():
    size = int(POOL_ENV["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"])
    overflow = int(POOL_ENV["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"])
    assert size + overflow == HANDLER_THREADS * CONNECTIONS_PER_HANDLER
    # AnyIO's own default is more (40): without the cap the pool's promise would not hold
    async def default_tokens():
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert HANDLER_THREADS < anyio.run(default_tokens)


def test_the_app_runs_at_most_handler_threads_handlers_at_once():
    seen = {}

    async def app(scope, receive, send):
        seen["tokens"] = anyio.to_thread.current_default_thread_limiter().total_tokens
        running = {"now": 0, "most": 0}

        def handler():
            import time
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
            time.sleep(0.02)
            running["now"] -= 1

        async with anyio.create_task_group() as group:
            for _ in range(3 * 4):
                group.start_soon(anyio.to_thread.run_sync, handler)
        seen["most"] = running["most"]

    async def serve():
        await HandlerThreads(app, 3)({"type": "http"}, None, None)

    anyio.run(serve)
    assert seen == {"tokens": 3, "most": 3}


def test_the_image_starts_mlflow_with_that_pool(monkeypatch):
    module = load()
    seen = {}
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module.os, "execvpe", lambda f, argv, env: seen.update(env=env))
    monkeypatch.setattr(module, "ensure_workspaces", lambda uri, names: [])
    # the service's start only checks the schema (the migration task migrates it)
    monkeypatch.setattr(module, "verify", lambda uri: "head")
    module.main()
    assert {k: seen["env"][k] for k in POOL_ENV} == POOL_ENV


def test_the_sandbox_starts_mlflow_with_that_pool(monkeypatch, tmp_path):
    from sandbox import mlflow_server

    seen = {}

    class Popen:
        def __init__(self, command, env, **kwargs):
            seen.update(env=env)

    for name in POOL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(mlflow_server.subprocess, "Popen", Popen)
    monkeypatch.setattr(mlflow_server.MlflowServer, "wait_healthy", lambda self, timeout: None)
    mlflow_server.MlflowServer(5000, "sqlite://", "s3://b/a", "s3://b/r", {},
                               tmp_path / "mlflow.log").start()
    assert {k: seen["env"][k] for k in POOL_ENV} == POOL_ENV
