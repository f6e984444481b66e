"""REDIS_KEY_PREFIX: deployments (and the suite's parallel workers, tests/conftest.py) that share
one Redis keep to their own keys: the cache's, the broker's, and those of the servers and
workers they start."""

import json
import os
import subprocess
import sys

from django.conf import settings
from django.core.cache import cache

from crm.cache import PrefixedRedisCache
from tests.celery_worker import broker_key, broker_purge, broker_queue_length, broker_redis


def test_clearing_a_prefixed_cache_leaves_the_other_prefixes_keys():
    location = settings.CACHES["default"]["LOCATION"]
    mine, theirs = (
        PrefixedRedisCache(location, {"KEY_PREFIX": f"prefix-test-{name}"})
        for name in ("mine", "theirs")
    )
    try:
        for each in (mine, theirs):
            each.set("token", "kept", 60)
        mine.clear()
        assert mine.get("token") is None
        assert theirs.get("token") == "kept"
    finally:
        theirs.clear()


def test_a_task_waits_under_this_processes_prefix_and_the_purge_takes_only_it():
    from patients.tasks import import_commit_task

    broker_purge()
    other = broker_redis()
    other.rpush("prefix-test-other:bulk", "a message of another run")
    try:
        import_commit_task.delay(900_001)  # nobody here serves the bulk queue
        assert broker_queue_length("bulk") == 1
        broker_purge()
        assert broker_queue_length("bulk") == 0
        # With a prefix the purge takes its keys only; without, the whole DB (the run's own).
        assert other.llen("prefix-test-other:bulk") == (1 if broker_key("") else 0)
    finally:
        other.delete("prefix-test-other:bulk")


def test_a_process_the_tests_start_uses_the_same_keys():
    """A Celery worker or a gunicorn server started by a test reads its settings afresh from
    the environment: it must find the cache entries and the queues of the test's process."""
    script = (
        "import json, django; django.setup()\n"
        "from django.core.cache import cache\n"
        "from crm.celery import app\n"
        "print(json.dumps([cache.make_key('k'), app.conf.broker_transport_options]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    key, options = json.loads(done.stdout.strip().splitlines()[-1])
    assert key == cache.make_key("k")
    assert options.get("global_keyprefix", "") == broker_key("")
    assert os.environ.get("REDIS_KEY_PREFIX", "") == settings.REDIS_KEY_PREFIX
