"""A real streaming replica of the machine's PostgreSQL for the read-replica tests: made from
the primary with pg_basebackup on first use, started on its own port, left running for the
next run. `make test` first allows replication connections from localhost (Makefile)."""

import fcntl
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

REPLICA_PORT = int(os.environ.get("TEST_REPLICA_PORT", "5433"))
PRIMARY = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
DATA_DIR = Path(os.environ.get("TEST_REPLICA_DIR", f"/var/tmp/careloop-replica-{REPLICA_PORT}"))
SOCKET_DIR = DATA_DIR.with_name(DATA_DIR.name + "-socket")
LOCK_FILE = DATA_DIR.with_name(DATA_DIR.name + ".lock")


def _bindir() -> Path:
    return Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def _running() -> bool:
    ready = subprocess.run(
        ["pg_isready", "-h", "127.0.0.1", "-p", str(REPLICA_PORT)], capture_output=True
    )
    return ready.returncode == 0


def _make() -> None:
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    for folder in (DATA_DIR, SOCKET_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
    DATA_DIR.chmod(0o700)
    made = _as_postgres(
        [
            str(_bindir() / "pg_basebackup"),
            "-h", PRIMARY["host"], "-p", PRIMARY["port"], "-U", PRIMARY["user"],
            "-D", str(DATA_DIR), "-X", "stream", "-R", "-c", "fast",
        ]
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(
            "pg_basebackup failed (does pg_hba.conf allow replication from 127.0.0.1? "
            f"`make test` adds it): {made.stderr.strip()}"
        )
    # Debian keeps the server's configuration outside the data folder: give the copy its own.
    (DATA_DIR / "postgresql.conf").write_text(
        f"port = {REPLICA_PORT}\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{SOCKET_DIR}'\n"
        "hot_standby = on\n"
        "max_connections = 100\n"
        "shared_buffers = 64MB\n"
        # Replay never waits for the replica's readers: a test reads, the primary moves on.
        "max_standby_streaming_delay = 1s\n"
        "hot_standby_feedback = on\n"
    )
    (DATA_DIR / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (DATA_DIR / "pg_ident.conf").write_text("")
    if os.geteuid() == 0:
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            shutil.chown(DATA_DIR / name, "postgres", "postgres")


def _start() -> subprocess.CompletedProcess:
    return _as_postgres(
        [str(_bindir() / "pg_ctl"), "-D", str(DATA_DIR), "-l", str(DATA_DIR / "server.log"),
         "-w", "-t", "60", "start"]
    )  # fmt: skip


@contextmanager
def replica_held():
    """The replica to oneself while the block runs: parallel test workers (and other runs on
    this machine) share one replica, and a test pauses its replay or starts it."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def replica_ensure() -> int:
    """The replica's port, once it is streaming. Makes it from the primary if there is none
    (or the one there no longer starts: a new primary, a broken copy)."""
    if _running():
        return REPLICA_PORT
    if not (DATA_DIR / "standby.signal").exists() or _start().returncode != 0:
        _make()
        started = _start()
        if started.returncode != 0:
            log = (DATA_DIR / "server.log").read_text()[-2000:] if DATA_DIR.exists() else ""
            raise RuntimeError(f"the replica did not start: {started.stderr}{log}")
    deadline = time.monotonic() + 60
    while not _running() and time.monotonic() < deadline:
        time.sleep(0.2)
    return REPLICA_PORT


def replica_sql(sql: str) -> str:
    """Run SQL on the replica as the superuser (pause or resume its replay, say)."""
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(REPLICA_PORT), "-U", "postgres", "-d", "postgres",
         "-Atc", sql],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout.strip()


def replica_stop() -> None:
    _as_postgres([str(_bindir() / "pg_ctl"), "-D", str(DATA_DIR), "-m", "fast", "-w", "stop"])


def replica_start() -> None:
    started = _start()
    if started.returncode != 0:
        raise RuntimeError(started.stderr)
