"""How many of MLflow's handlers run at once in one uvicorn worker.

MLflow serves its handlers on AnyIO's worker threads (its Flask app through the WSGI
middleware, FastAPI's synchronous routes), as many at once as AnyIO's default limiter allows:
40 per event loop. Each may hold two of a store's database connections at once, and the pool
(`MLFLOW_SQLALCHEMYSTORE_POOL_SIZE` + `_MAX_OVERFLOW`, which the image's entrypoint and the
sandbox set from the same spec) holds two for each of `HANDLER_THREADS`: so the cap must be
the same number, or handlers deadlock on the pool under load (spec/server.py says how).
A request beyond the cap waits in the event loop, holding no connection and no thread.
"""

import anyio.to_thread


class HandlerThreads:
    """ASGI middleware: before `app` runs anything, this worker's event loop runs at most
    `threads` handlers on worker threads at once."""

    def __init__(self, app, threads: int):
        self.app = app
        self.threads = threads
        self._limited = False

    async def __call__(self, scope, receive, send):
        if not self._limited:  # the limiter is the running loop's: set from inside it, once
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            self._limited = True
        return await self.app(scope, receive, send)
