"""Anonymous reads from PostgreSQL streaming replicas; everything else from the primary.

``DATABASE_REPLICA_URLS`` (settings.py) adds one alias per replica (``replica_1``, …) and lists
them in ``settings.DATABASE_REPLICAS``. Without replicas this router answers ``None`` to every
question, so Django behaves exactly as with no router at all.

With replicas, a read goes to a replica only when all of these hold:

* it happens inside a request that ``conflict.middleware.ReplicaReadsMiddleware`` marked as an
  anonymous safe read (GET or HEAD, no signed-in user, no ``Authorization`` header);
* nothing was written earlier in that request (``db_for_write`` was never asked);
* the primary is not inside a transaction (``transaction.atomic``): a transaction reads what it
  is about to change from the primary.

Everything else reads the primary: staff and every signed-in account (so an editor always sees
their own writes at once: read-your-writes), writes, management commands, migrations, tests
without a request, and any code running outside the request (a streaming body, a thread).

One replica is chosen per request, at its first read, and kept for the whole request: the
RecordClock version that the response cache keys an answer on and the rows of that answer then
come from the same server. A replica replays the primary's commits in order and the clock moves
in the same transaction as the change, so whatever a request reads is at least as new as the
clock version it read first: an answer is never cached under a newer version than its data.

A replica that cannot be reached is skipped for ``DATABASE_REPLICA_RETRY_SECONDS`` and the
request reads the primary instead; one that fails in the middle of a request makes the
middleware answer that request again from the primary (see ``note_failure``).

The request's state lives in a ``contextvars.ContextVar``: each gthread worker thread (and each
asyncio task) has its own, and the middleware resets it when the request ends, so a thread that
next serves a staff request cannot inherit an anonymous request's routing.
"""

import contextlib
import contextvars
import logging
import random
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

# PostgreSQL's SQLSTATE for "canceling statement due to conflict with recovery" on a standby
# (a vacuum on the primary removed rows the query still needed): the primary can answer it.
RECOVERY_CONFLICT = "40001"


@dataclass
class ReadState:
    """What the router knows about the current anonymous read request."""

    replica: str | None = None  # the replica pinned for this request, once chosen
    chosen: bool = False  # a replica (or the primary, none being usable) was chosen
    wrote: bool = False  # something was written: later reads go to the primary
    replica_failed: bool = False  # the pinned replica failed: answer again from the primary

    def use_primary(self) -> None:
        """Route every later read of this request to the primary."""
        self.replica, self.chosen, self.replica_failed = None, True, False


_request_reads: contextvars.ContextVar[ReadState | None] = contextvars.ContextVar("request_reads", default=None)

# Replicas that failed to connect, with the time.monotonic() until which they are not tried again.
_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", []))


@contextlib.contextmanager
def anonymous_reads():
    """Mark the code inside as serving an anonymous safe read; yields its ``ReadState``."""
    state = ReadState()
    token = _request_reads.set(state)
    try:
        yield state
    finally:
        _request_reads.reset(token)


def current_state() -> ReadState | None:
    return _request_reads.get()


def mark_down(alias: str, reason: object) -> None:
    retry = getattr(settings, "DATABASE_REPLICA_RETRY_SECONDS", 10)
    with _down_lock:
        _down_until[alias] = time.monotonic() + retry
    logger.warning("Read replica %s is unavailable (%s); reading the primary for %s s", alias, reason, retry)


def is_down(alias: str) -> bool:
    with _down_lock:
        return _down_until.get(alias, 0.0) > time.monotonic()


def forget_failures() -> None:
    """Consider every replica usable again (tests, and after an operator fixed a replica)."""
    with _down_lock:
        _down_until.clear()


def _connects(alias: str) -> bool:
    """True when ``alias`` has a working connection (opening one if needed).

    A persistent connection is tested as CONN_HEALTH_CHECKS tests it, once per request (Django's
    own check, which would run at the first query anyway); a new one is opened within the
    alias' ``connect_timeout``. ``close_if_unusable_or_obsolete`` is what Django runs on every
    connection when a request starts; repeated here because the test client (``bench.replica
    check``) skips it, and harmless after it.
    """
    connection = connections[alias]
    try:
        connection.close_if_unusable_or_obsolete()
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except Error as exc:
        mark_down(alias, exc)
        return False
    return True


def _choose_replica() -> str | None:
    candidates = [alias for alias in replica_aliases() if not is_down(alias)]
    random.shuffle(candidates)  # spreading load, not security
    for alias in candidates:
        if _connects(alias):
            return alias
    return None


def _in_transaction_on_primary() -> bool:
    """True inside ``transaction.atomic()`` on the primary (a test case's own wrapper aside)."""
    primary = connections[DEFAULT_DB_ALIAS]
    if not primary.in_atomic_block:
        return False
    return any(not getattr(block, "_from_testcase", False) for block in primary.atomic_blocks)


def _replica_unusable(alias: str) -> bool:
    connection = connections[alias]
    if connection.connection is None:
        return True
    try:
        return not connection.is_usable()
    except Exception:  # any failure to answer SELECT 1 means unusable
        return True


def note_failure(exception: BaseException) -> bool:
    """Called with an exception a request raised; True when the request should be answered again.

    That is when the request was reading a replica and the replica, not the query, failed: its
    connection is gone (the replica stopped, restarted or was cut off; it is then marked down),
    or the standby cancelled the query for a recovery conflict. A statement timeout on the
    replica is not retried: the primary would take as long.
    """
    state = _request_reads.get()
    if state is None or state.replica is None or not isinstance(exception, OperationalError | InterfaceError):
        return False
    cause = exception.__cause__
    if getattr(cause, "pgcode", None) == RECOVERY_CONFLICT:
        state.replica_failed = True
    elif _replica_unusable(state.replica):
        mark_down(state.replica, exception)
        state.replica_failed = True
    return state.replica_failed


class ReplicaRouter:
    """Django database router: see the module docstring for the rules."""

    def db_for_read(self, model, **hints):
        replicas = replica_aliases()
        if not replicas:
            return None
        state = _request_reads.get()
        if state is None or state.wrote or _in_transaction_on_primary():
            return DEFAULT_DB_ALIAS
        if not state.chosen:
            state.replica, state.chosen = _choose_replica(), True
        return state.replica or DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        if not replica_aliases():
            return None
        state = _request_reads.get()
        if state is not None:
            state.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        replicas = replica_aliases()
        if not replicas:
            return None
        same_data = {DEFAULT_DB_ALIAS, *replicas}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db, app_label, **hints):
        if db in replica_aliases():
            return False  # a replica receives the primary's schema by replication
        return None
