"""A real Celery worker process for end-to-end tests: the test database (rows must be
committed: use django_db(transaction=True)), the test's Redis broker, the fake WeCom."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection


class Worker:
    def __init__(
        self,
        *,
        wecom_base_url: str,
        concurrency: int = 4,
        extra_env: dict | None = None,
        queues: tuple[str, ...] | None = None,
        name: str = "worker",
    ):
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "WECOM_API_BASE_URL": wecom_base_url,
            "DEBUG": "1",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.concurrency = concurrency
        # Every queue unless told: most tests want one worker that does everything.
        self.queues = queues or settings.CELERY_QUEUE_NAMES
        self.name = name
        self.process = None
        self.log = Path(settings.BASE_DIR) / "test-artifacts" / "celery-worker.log"
        self.log.parent.mkdir(exist_ok=True)

    def start(self) -> "Worker":
        celery = Path(sys.executable).with_name("celery")
        with open(self.log, "ab") as log:
            # A session of its own, so SIGKILL reaches the pool's children too (by group id).
            self.process = subprocess.Popen(
                [
                    str(celery),
                    "-A",
                    "crm",
                    "worker",
                    "--concurrency",
                    str(self.concurrency),
                    "-Q",
                    ",".join(self.queues),
                    "-n",
                    f"{self.name}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no warm shutdown, no acks, no cleanup."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown: SIGTERM to the main process, which stops its pool."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def broker_redis():
    """The broker's Redis database (the tests' own; parallel workers share it, each with its
    own key prefix: use broker_key)."""
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def broker_key(name: str) -> str:
    """The broker's Redis key for a queue (or any key kombu keeps), with this worker's prefix."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    return options.get("global_keyprefix", "") + name


def broker_queue_length(queue: str) -> int:
    return broker_redis().llen(broker_key(queue))


def broker_purge() -> None:
    """Empty this run's broker (and only it: other runs share the Redis server, parallel
    workers its database), so a test does not first chew through messages that earlier runs
    left behind. Without a prefix, the whole broker DB."""
    from crm.cache import redis_keys_delete

    client = broker_redis()
    prefix = broker_key("")
    if prefix:
        redis_keys_delete(client, prefix)
    else:
        client.flushdb()


def wait_until(predicate, *, timeout: float, every: float = 0.2, tick=None) -> bool:
    """Poll `predicate`; `tick` runs between polls (e.g. the beat's delivery scan)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick:
            tick()
        time.sleep(every)
    return predicate()
