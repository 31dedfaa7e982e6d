"""Every registry act as one event on the central EventBridge bus (spec.registry_events).

The act comes first: an event is put after MLflow's database has the change, and nothing about
sending it can undo or fail the request. Each event is
1. written at once as one audit line on the server's log (`{"audit": "registry_event", ...}`,
   CloudWatch Logs on Fargate): the record that survives whatever happens next;
2. queued in memory and put by one background thread per worker (`events.put_events`, the
   task role's one EventBridge right, on the central bus only), in batches of up to 10, with
   retries (exponential backoff from 1 s up to 5 minutes between tries, MAX_ATTEMPTS tries:
   about half an hour) of what EventBridge did not take;
3. one that still was not taken, or that a full queue (MAX_QUEUED) could not hold, is written
   as an `{"audit": "registry_event_undelivered", ...}` line with its whole entry (an alarm's
   metric filter and a replay start there: `aws events put-events --entries` of that entry).
An event queued when the process stops is lost from the bus, never from the log: the audit
line was written first. (A database outbox would survive that too; the log line was chosen to
keep MLflow's schema unchanged.)

Without EVENT_BUS_ARN_ENV the server writes the audit lines only.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone

from ._spec import DETAIL_FIELDS, DETAIL_TYPES, EVENT_BUS_ARN_ENV, EVENT_SOURCE

MAX_ATTEMPTS = 10
FIRST_DELAY, MAX_DELAY = 1.0, 300.0
MAX_QUEUED = 10_000
BATCH = 10  # EventBridge's most entries per PutEvents

_logger = logging.getLogger(__name__)


def audit_logger() -> logging.Logger:
    """One JSON line per audited act on stderr (CloudWatch on Fargate), whatever the server's
    log configuration says about other loggers."""
    logger = logging.getLogger("mlflow_landing_zone.audit")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def now() -> str:
    """ISO 8601 in UTC, to the millisecond: events of one version may arrive out of order (each
    worker sends its own, and EventBridge keeps no order); consumers order them by `time`."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def detail(**facts) -> dict:
    """The event's detail: exactly DETAIL_FIELDS, absent facts null; `time` now unless given."""
    unknown = set(facts) - set(DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"not fields of a registry event: {sorted(unknown)}")
    out = {name: facts.get(name) for name in DETAIL_FIELDS}
    if out["time"] is None:
        out["time"] = now()
    for name in ("version",):
        if out[name] is not None:
            out[name] = str(out[name])
    return out


def entry(kind: str, facts: dict, bus_arn: str) -> dict:
    """A PutEvents entry of one registry act (`kind`: one of DETAIL_TYPES' keys)."""
    return {"Source": EVENT_SOURCE, "DetailType": DETAIL_TYPES[kind],
            "Detail": json.dumps(facts, sort_keys=True), "EventBusName": bus_arn}


class EventSender:
    """Puts the registry's events on the bus in the background, with retries; `client` (tests)
    or a boto3 EventBridge client of the server's own credentials."""

    def __init__(self, bus_arn: "str | None", client=None,
                 max_attempts: int = MAX_ATTEMPTS, first_delay: float = FIRST_DELAY):
        self.bus_arn = bus_arn or None
        self._client = client
        self.max_attempts, self.first_delay = max_attempts, first_delay
        self._queue = collections.deque()  # (entry, attempts so far, not before)
        self._wake = threading.Condition()
        self._thread = None
        self.sent = 0

    def client(self):
        if self._client is None:
            import boto3

            region = self.bus_arn.split(":")[3]
            self._client = boto3.client("events", region_name=region)
        return self._client

    def emit(self, kind: str, facts: dict) -> dict:
        """Log the act's event and queue it for the bus; return its detail."""
        audit_logger().info(json.dumps({"audit": "registry_event", "detail_type":
                                        DETAIL_TYPES[kind], "detail": facts}, sort_keys=True))
        if self.bus_arn is None:
            return facts
        item = entry(kind, facts, self.bus_arn)
        with self._wake:
            if len(self._queue) >= MAX_QUEUED:
                self._undelivered(item, "the queue of events to send is full")
                return facts
            self._queue.append((item, 0, 0.0))
            self._start()
            self._wake.notify()
        return facts

    def _start(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="registry-events",
                                            daemon=True)
            self._thread.start()

    def _undelivered(self, item, why):
        audit_logger().error(json.dumps({"audit": "registry_event_undelivered", "why": why,
                                         "entry": item}, sort_keys=True))

    def _take(self):
        """Up to BATCH entries due now, waiting for one."""
        with self._wake:
            while True:
                due = [q for q in self._queue if q[2] <= time.monotonic()]
                if due:
                    batch = due[:BATCH]
                    for q in batch:
                        self._queue.remove(q)
                    return batch
                wait = (min(q[2] for q in self._queue) - time.monotonic()
                        if self._queue else None)
                self._wake.wait(wait)

    def _run(self):
        while True:
            self.send(self._take())

    def send(self, batch):
        """Put one batch; queue again (later) or give up on what EventBridge did not take."""
        try:
            response = self.client().put_events(Entries=[item for item, _, _ in batch])
            results = response.get("Entries", [])
            failed = [(q, r.get("ErrorCode", ""), r.get("ErrorMessage", ""))
                      for q, r in zip(batch, results) if "EventId" not in r]
            failed += [(q, "", "no result") for q in batch[len(results):]]
        except Exception as e:  # the network, throttling, credentials: all retried
            failed = [(q, type(e).__name__, str(e)[:300]) for q in batch]
        self.sent += len(batch) - len(failed)
        for (item, attempts, _), code, message in failed:
            attempts += 1
            why = f"{code} {message}".strip()
            if attempts >= self.max_attempts:
                self._undelivered(item, f"not taken after {attempts} tries: {why}")
                continue
            delay = min(self.first_delay * 2 ** (attempts - 1), MAX_DELAY)
            _logger.warning("registry event not taken (%s); try %d in %.0f s", why,
                            attempts + 1, delay)
            with self._wake:
                self._queue.append((item, attempts, time.monotonic() + delay))
                self._wake.notify()

    def pending(self) -> int:
        with self._wake:
            return len(self._queue)


def sender_from_env() -> EventSender:
    return EventSender(os.environ.get(EVENT_BUS_ARN_ENV, "").strip() or None)
