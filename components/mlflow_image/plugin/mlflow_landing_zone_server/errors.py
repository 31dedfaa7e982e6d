"""The last resort: what MLflow's own handlers let escape, answered in MLflow's error shape.

The guard (guard.py) refuses the bad input it can recognise before MLflow runs; this catches
what MLflow's handlers still raise past their own `catch_mlflow_exception`:

- an MlflowException: its own code and status (MLflow forgot to catch it: a missing dataset
  was a 500 instead of RESOURCE_DOES_NOT_EXIST);
- an exception of a type that bad input raises in Python code that trusted its input (a list
  where a dict was assumed, a value of the wrong type, a name too long for the file system):
  400 INVALID_PARAMETER_VALUE;
- anything else, and anything raised while handling a fault of the database, S3 or the network
  (those say the server is unwell, whatever type they end in): 500, in MLflow's shape, logged
  with its traceback, so the alarm still fires for real faults.
"""

import errno
import json
import logging
import re

from google.protobuf.json_format import ParseError
from google.protobuf.message import DecodeError
from mlflow.exceptions import MlflowException

_logger = logging.getLogger("mlflow_landing_zone.errors")

# Types that Python raises when a value is not what the code assumed: input's fault when they
# escape a request handler. (ValueError includes UnicodeError and json's JSONDecodeError;
# LookupError is KeyError and IndexError.) And protobuf's, for a JSON value of the wrong type
# for a message's field (MLflow parses some bodies without catching them).
BAD_INPUT_TYPES = (ValueError, TypeError, AttributeError, LookupError, RecursionError,
                   OverflowError, ParseError, DecodeError)
# An OSError is input's fault only for a name too long: every other errno is the machine's.
BAD_INPUT_ERRNOS = frozenset({errno.ENAMETOOLONG})


def _fault_types() -> tuple:
    """What says the server (not the request) is unwell: the database, S3, the network, the
    machine. Seen anywhere in an exception's chain, the exception is a fault."""
    types = [OSError, MemoryError]
    try:
        import sqlalchemy.exc
        types.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover - MLflow's server brings SQLAlchemy
        pass
    try:
        import botocore.exceptions
        types += [botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError]
    except ImportError:  # pragma: no cover - the image installs boto3
        pass
    return tuple(types)


FAULT_TYPES = _fault_types()


def _chain(error):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _is_fault(error) -> bool:
    if isinstance(error, MlflowException):  # MLflow's own verdict: 5xx is the server's
        return error.get_http_status_code() >= 500
    return isinstance(error, FAULT_TYPES)


def is_bad_input(error: BaseException) -> bool:
    """Whether an exception that escaped a request handler was raised by the request's input
    rather than by a fault of the server."""
    if isinstance(error, OSError):
        bad = error.errno in BAD_INPUT_ERRNOS
    else:
        bad = isinstance(error, BAD_INPUT_TYPES) and not _is_fault(error)
    return bad and not any(_is_fault(e) for e in list(_chain(error))[1:])


def answer(error: BaseException, where: str):
    """(status, MLflow error body) for an exception that escaped a handler."""
    if isinstance(error, MlflowException):
        status = error.get_http_status_code()
        if status >= 500:
            _logger.error("%s: %s", where, error, exc_info=error)
        return status, json.loads(error.serialize_as_json())
    if is_bad_input(error):
        _logger.warning("%s: bad input answered 400: %s: %s", where, type(error).__name__,
                        str(error)[:300])
        return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                     "message": "The request's input is not valid for this endpoint "
                                f"({type(error).__name__})."}
    _logger.error("%s: unhandled %s", where, type(error).__name__, exc_info=error)
    return 500, {"error_code": "INTERNAL_ERROR", "message": "Internal server error."}


# --- artifacts that do not exist -------------------------------------------------------------
# MLflow's download_artifacts turns S3's 404 for a missing file into INTERNAL_ERROR (500):
# any reader could page the 5xx alarm with a made-up file name. Only a download whose every
# failure is S3's own "not found" becomes 404; any other failure (S3 unreachable, denied,
# throttled) stays the 500 it is.
_DOWNLOAD_FAILED = "The following failures occurred while downloading one or more artifacts"
_FAILURE = re.compile(r"^##### File (.*) #####\n(.*)$", re.MULTILINE)
_S3_NOT_FOUND = re.compile(
    r"^An error occurred \((404|NoSuchKey)\) when calling the (HeadObject|GetObject) operation")


def missing_artifact(error_body: dict):
    """The paths of a download whose every failure is S3's 404, or None."""
    message = error_body.get("message", "")
    if error_body.get("error_code") != "INTERNAL_ERROR" or not message.startswith(
            _DOWNLOAD_FAILED):
        return None
    failures = _FAILURE.findall(message)
    if failures and all(_S3_NOT_FOUND.match(error) for _, error in failures):
        return [path for path, _ in failures]
    return None


def register_flask_handlers(flask_app):
    """The last-resort handler, and the missing-artifact answer, on MLflow's Flask app."""
    from flask import Response, request
    from werkzeug.exceptions import HTTPException

    def last_resort(error):
        if isinstance(error, HTTPException):  # Flask's own 404, 405, 400: as they are
            return error
        status, body = answer(error, f"{request.method} {request.path}")
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def not_found_artifact(response):
        if response.status_code != 500 or response.mimetype != "application/json":
            return response
        try:
            body = json.loads(response.get_data())
        except ValueError:
            return response
        paths = missing_artifact(body) if isinstance(body, dict) else None
        if paths is None:
            return response
        return Response(json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST",
                                    "message": f"No artifact at {', '.join(paths)}."}),
                        status=404, mimetype="application/json")

    flask_app.register_error_handler(Exception, last_resort)
    flask_app.after_request(not_found_artifact)
