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


def _primary_sql(sql: str) -> str:
    done = subprocess.run(
        ["psql", "-h", PRIMARY["host"], "-p", PRIMARY["port"], "-U", PRIMARY["user"],
         "-d", "postgres", "-Atc", sql],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout.strip()


def _server_log() -> str:
    log = DATA_DIR / "server.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no server.log)"


def _streams(wait_seconds: float) -> bool:
    """Whether the running replica is a copy of this primary that is receiving its WAL now.
    A replica left from an earlier run can be up and still useless: it was made from another
    cluster, its replay was left paused, or the primary recycled WAL it had not received yet
    (a big load while it was down); it then answers queries and never catches up."""
    try:
        same_cluster = replica_sql(
            "SELECT system_identifier FROM pg_control_system()"
        ) == _primary_sql("SELECT system_identifier FROM pg_control_system()")
        if not same_cluster or replica_sql("SELECT pg_is_in_recovery()") != "t":
            return False
        if replica_sql("SELECT pg_is_wal_replay_paused()") == "t":
            replica_sql("SELECT pg_wal_replay_resume()")
        deadline = time.monotonic() + wait_seconds
        while True:
            if replica_sql("SELECT status FROM pg_stat_wal_receiver") == "streaming":
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
    except (RuntimeError, subprocess.TimeoutExpired):
        return False


def replica_ensure() -> int:
    """The replica's port, once it streams from this primary. Makes it from the primary if
    there is none, or if the one there does not start or does not stream (see _streams)."""
    if _running() and _streams(wait_seconds=10):
        return REPLICA_PORT
    if _running():
        replica_stop()
        if _running():
            raise RuntimeError(
                f"port {REPLICA_PORT} answers but is not a replica of this primary made from "
                f"{DATA_DIR}: stop it, or set TEST_REPLICA_PORT"
            )
    elif (DATA_DIR / "standby.signal").exists() and _start().returncode == 0:
        if _streams(wait_seconds=30):
            return REPLICA_PORT
        replica_stop()
    _make()
    started = _start()
    if started.returncode != 0:
        raise RuntimeError(f"the replica did not start: {started.stderr}{_server_log()}")
    if not _streams(wait_seconds=60):
        raise RuntimeError(f"the new replica does not stream from the primary: {_server_log()}")
    return REPLICA_PORT


def replica_diagnosis() -> str:
    """What a test that waited for the replica in vain reports."""
    try:
        receiver = replica_sql("SELECT status, flushed_lsn FROM pg_stat_wal_receiver")
        replay = replica_sql("SELECT pg_last_wal_replay_lsn(), pg_is_wal_replay_paused()")
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        receiver, replay = f"(no answer: {error})", ""
    return (
        f"replica receiver [{receiver}] replay [{replay}] primary "
        f"[{_primary_sql('SELECT pg_current_wal_lsn()')}]\n{_server_log()}"
    )


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
