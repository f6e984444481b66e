"""Web processes hold no state: two gunicorn servers (separate processes, as on two machines)
on one database and one Redis, and one browser's requests alternating between them. The
session, the CSRF token, the sign-in lockout and the cache are shared, not per process."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DEBUG": "1",
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = Path(settings.BASE_DIR) / "test-artifacts" / f"gunicorn-{port}.log"
    log.parent.mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            str(gunicorn),
            "crm.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--log-level",
            "warning",
            "--no-control-socket",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def real_passwords(settings, assistant, doctor):
    """The servers hash as production does (the suite's MD5 speed-up is this process's only)."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    for user in (assistant, doctor):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])


@pytest.fixture
def two_servers(real_passwords):
    ports = [free_port(), free_port()]
    servers = [start_server(port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    requests.get(f"{url}/accounts/login/", timeout=10)
                    break
                except requests.RequestException:  # not listening yet, or its first answer slow
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
        yield urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)


def csrf_token(session, url) -> str:
    page = session.get(f"{url}/accounts/login/").text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def sign_in(session, *, form_from, post_to, username, password):
    token = csrf_token(session, form_from)
    return session.post(
        f"{post_to}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{post_to}/accounts/login/"},
        allow_redirects=False,
    )


def test_a_browser_alternating_between_two_servers_stays_signed_in(two_servers, assistant):
    a, b = two_servers
    browser = requests.Session()
    # The form from one server, the sign-in on the other: CSRF is in the cookie, not a process.
    signed_in = sign_in(
        browser, form_from=a, post_to=b, username=assistant.username, password=PASSWORD
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    for url in (a, b, a, b):
        page = browser.get(f"{url}/workbench/", allow_redirects=False)
        assert page.status_code == 200, (url, page.status_code)
    api = browser.get(f"{b}/api/patients/", headers={"Accept": "application/json"})
    assert api.status_code == 200 and api.json()["count"] == 0


def test_failed_sign_ins_on_both_servers_add_up_to_one_lockout(two_servers, doctor):
    a, b = two_servers
    first = sign_in(
        requests.Session(), form_from=b, post_to=b, username=doctor.username, password=PASSWORD
    )
    assert first.status_code == 302  # the password is right
    browser = requests.Session()
    statuses = []
    for n in range(settings.AXES_FAILURE_LIMIT):
        url = (a, b)[n % 2]
        wrong = sign_in(browser, form_from=url, post_to=url, username=doctor.username, password="x")
        statuses.append(wrong.status_code)
    # The form again each time, until the last failure, counted over both servers, locks.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    # The right password is refused now on either server: the count is in the database.
    for url in (a, b):
        right = sign_in(
            browser, form_from=url, post_to=url, username=doctor.username, password=PASSWORD
        )
        assert right.status_code == 429, (url, right.status_code)


def test_the_cache_is_shared_between_the_servers_and_this_process(two_servers):
    # The WeCom token cache and the rate buckets use Django's cache: Redis, not process memory.
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("stateless-check", "from the test process", 60)
    assert requests.get(f"{two_servers[0]}/accounts/login/").status_code == 200
    assert cache.get("stateless-check") == "from the test process"
