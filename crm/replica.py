"""Reads that may come from the read replica (docs/scaling.md).

With `DATABASE_REPLICA_URL` set, the heavy reads (the dashboards, the figures, the funnel,
exports, the list's counts: `REPLICA_READ_URL_NAMES` and the paginator's count) go to a
streaming replica of the primary. Everything else reads the primary, and so does every read:
- inside a transaction, or after a write in the same request (read-your-writes);
- in the few seconds after a request that wrote (`REPLICA_PIN_SECONDS`, by a cookie), so the
  page a person lands on after saving shows what they saved;
- while the replica lags more than `REPLICA_MAX_LAG_SECONDS`, or is down (nothing fails).
"""

import contextvars
import logging
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "cl_primary"

# Per request (the middleware) or per `replica_reads()` block: may reads use the replica, and
# has this request written yet.
_state: contextvars.ContextVar[dict | None] = contextvars.ContextVar("replica_state", default=None)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES and settings.REPLICA_READS


@contextmanager
def replica_reads():
    """Reads in this block may come from the replica (unless something above says no)."""
    outer = _state.get()
    state = {"allowed": True, "wrote": bool(outer and outer["wrote"])}
    if outer is not None and outer.get("pinned"):
        state["allowed"] = False
    token = _state.set(state)
    try:
        yield
    finally:
        _state.reset(token)
        if outer is not None and state["wrote"]:
            outer["wrote"] = True


@contextmanager
def request_scope(*, allowed: bool, pinned: bool):
    """The middleware's scope for one request; says afterwards whether it wrote."""
    state = {"allowed": allowed and not pinned, "wrote": False, "pinned": pinned}
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


# The replica's health, checked at most every REPLICA_CHECK_SECONDS per process.
_health = {"checked_at": 0.0, "usable": False, "lag": None}
_health_lock = threading.Lock()
# Reads routed, per process: the benchmark reads the replica's share from here.
stats = {"replica": 0, "primary": 0}

LAG_SQL = (
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


def replica_lag_seconds() -> float | None:
    """The replica's lag now, or None when it cannot be reached."""
    connection = connections[REPLICA]
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            return float(cursor.fetchone()[0])
    except OperationalError:
        connection.close()
        return None


def replica_usable(*, now: float | None = None) -> bool:
    now = time.monotonic() if now is None else now
    with _health_lock:
        if now - _health["checked_at"] < settings.REPLICA_CHECK_SECONDS:
            return _health["usable"]
        _health["checked_at"] = now
    lag = replica_lag_seconds()
    usable = lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS
    if not usable:
        logger.warning("Read replica not used: %s", "down" if lag is None else f"lag {lag:.1f} s")
    with _health_lock:
        _health.update(usable=usable, lag=lag)
    return usable


def replica_health_forget() -> None:
    """Check the replica again at the next read (tests, after changing it)."""
    with _health_lock:
        _health.update(checked_at=0.0, usable=False, lag=None)


class ReplicaRouter:
    """Reads go to the replica only where `_state` allows it; writes always to the primary,
    and a write turns the rest of the request's reads to the primary."""

    def db_for_read(self, model, **hints):
        state = _state.get()
        if (
            state is None
            or not state["allowed"]
            or state["wrote"]
            or not replica_configured()
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
            or not replica_usable()
        ):
            stats["primary"] += 1
            return DEFAULT_DB_ALIAS
        stats["replica"] += 1
        return REPLICA

    def db_for_write(self, model, **hints):
        state = _state.get()
        if state is not None:
            state["wrote"] = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two copies

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaMiddleware:
    """Opens the request's scope: the heavy GETs named in REPLICA_READ_URL_NAMES may read the
    replica unless this browser wrote in the last REPLICA_PIN_SECONDS; a request that writes
    sets that pin."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        pinned = PIN_COOKIE in request.COOKIES
        with request_scope(allowed=False, pinned=pinned) as state:
            request.replica_state = state
            response = self.get_response(request)
        if state["wrote"]:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.REPLICA_PIN_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        state = getattr(request, "replica_state", None)
        match = request.resolver_match
        if state is None or request.method not in ("GET", "HEAD") or match is None:
            return None
        if match.view_name in settings.REPLICA_READ_URL_NAMES and not state["pinned"]:
            state["allowed"] = True
        return None
