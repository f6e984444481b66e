"""End to end with a real Celery worker (a subprocess on the test database and Redis): the fake
WeCom pushes a scan to the live server, the worker processes the stored event and the welcome
reaches the fake within the code's 20 s; a duplicate push changes nothing."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from patients.choices import TouchKind
from patients.models import Patient
from tests.conftest import AES_KEY, CALLBACK_TOKEN, CORP_ID, tag
from wechat.channels import channel_code_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(settings, live_server, callback_account, fake_wecom):
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WECOM_API_BASE_URL": settings.WECOM_API_BASE_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    celery = str(Path(sys.executable).parent / "celery")
    root = settings.BASE_DIR
    queues = ",".join(settings.CELERY_QUEUE_NAMES)  # every queue: one worker does it all
    subprocess.run(
        [celery, "-A", "crm", "purge", "-f", "-Q", queues], env=env, cwd=root, capture_output=True
    )
    process = subprocess.Popen(
        [celery, "-A", "crm", "worker", "-Q", queues, "-l", "info", "--concurrency", "1",
         "--without-mingle", "--without-gossip", "--without-heartbeat"],
        env=env, cwd=root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    ready = threading.Event()

    def watch():
        for line in process.stderr:
            if " ready." in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    assert ready.wait(60), "the Celery worker did not start"
    settings.SITE_URL = live_server.url
    fake_wecom.register_app(
        corp_id=CORP_ID,
        callback_url=live_server.url + "/wechat/callback/a/",
        token=CALLBACK_TOKEN,
        aes_key=AES_KEY,
    )
    yield fake_wecom
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_scan_to_welcome_through_a_real_worker(worker, clinic, wecom_staff):
    fake = worker
    code = channel_code_create(
        clinic=clinic, name="护士站", staff=[wecom_staff["assistant"]], tags=[tag(clinic, "病房")]
    )
    pushed_at = time.time()
    result = fake.push_add(CORP_ID, userid="wx-assistant", state=code.state)
    assert (result["status"], result["text"]) == (200, "success")
    for _ in range(2):  # WeCom's retries of the same packet
        assert fake.post_packet(CORP_ID, result["params"], result["body"])[:2] == (200, "success")
    assert wait_until(lambda: len(fake.welcome_messages) >= 1), "no welcome within 20 s"
    latency = fake.welcome_messages[0]["at"] - pushed_at
    assert latency < 20
    patient = Patient.objects.get(external_userid=result["external_userid"])
    assert "病房" in patient.tags.names()
    assert wait_until(lambda: patient.touches.filter(kind=TouchKind.WELCOME).exists())
    time.sleep(1.0)  # room for a wrong second welcome to show up
    assert len(fake.welcome_messages) == 1 and Patient.objects.count() == 1
