"""MLflow's own server app, with the landing zone's stores for database back ends.

`mlflow server --app-name landing-zone` imports this module in every worker. Before any request
builds a store it registers, for MLflow's database schemes, the registry store whose versions
serve frozen copies (registry.py) and the tracking store that keeps references and trace
locations in the request's workspace, refusing (not dropping) a client's trace storage tags
(tracking.py); and it makes every S3 access act for the
request's workspace alone (storage.py). Then it serves MLflow's unchanged FastAPI app (no fork of
the server or its UI), behind the guard that bounds its input (guard.py) and with a last-resort
error handler (errors.py), running at most `HANDLER_THREADS` handlers at once per worker, the
number its database pool is sized for (threads.py); the caller's identity headers reach the code
of its FastAPI routes too (approval.RequestIdentity: the skill registry's audit lines).
"""

from mlflow.server import handlers
from mlflow.store.db.db_types import DATABASE_ENGINES

from . import registry, storage, tracking

storage.install()
tracking.install()
for _scheme in DATABASE_ENGINES:
    handlers._model_registry_store_registry.register(_scheme, registry.store_factory)
    handlers._tracking_store_registry.register(_scheme, tracking.store_factory)

from mlflow.server import app as _flask_app  # noqa: E402
from mlflow.server.fastapi_app import app as _mlflow_app  # noqa: E402  (after the registration)

from ._spec import HANDLER_THREADS  # noqa: E402
from .approval import RequestIdentity  # noqa: E402
from .errors import register_flask_handlers  # noqa: E402
from .guard import Guard  # noqa: E402
from .threads import HandlerThreads  # noqa: E402

register_flask_handlers(_flask_app)
app = HandlerThreads(Guard(RequestIdentity(_mlflow_app)), HANDLER_THREADS)

__all__ = ["app"]
