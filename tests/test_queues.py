"""Queues by urgency: every task has a queue, and a callback is processed by its own pool while
bulk work waits in another queue (a real worker process that serves only the callbacks)."""

import pytest
from celery import current_app
from django.conf import settings

from patients.models import Patient
from tests.celery_worker import Worker, broker_purge, broker_queue_length, wait_until
from tests.conftest import CORP_ID
from tests.test_callbacks import add_event, post

OUR_APPS = ("crm.", "patients.", "wechat.", "followups.", "content.", "doctors.")


def queue_of(task_name: str) -> str:
    return current_app.amqp.router.route({}, task_name)["queue"].name


def our_tasks() -> list[str]:
    current_app.loader.import_default_modules()
    return sorted(name for name in current_app.tasks if name.startswith(OUR_APPS))


def test_every_task_of_ours_goes_to_a_named_queue():
    tasks = our_tasks()
    assert len(tasks) >= 15
    for name in tasks:
        assert queue_of(name) in settings.CELERY_QUEUE_NAMES, name


def test_the_urgent_work_and_the_bulk_work_are_on_different_queues():
    assert queue_of("wechat.tasks.callback_process_task") == "callbacks"
    assert queue_of("wechat.tasks.delivery_send_task") == "sends"
    assert queue_of("wechat.tasks.deliveries_send_due_task") == "sends"
    for bulk in ("patients.tasks.import_commit_task", "content.tasks.campaign_start_task"):
        assert queue_of(bulk) == "bulk"
    assert queue_of("followups.tasks.followups_due_scan") == "scheduled"


def test_every_beat_entry_names_a_task_that_exists():
    tasks = set(our_tasks())
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in tasks, entry["task"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_callback_is_processed_while_bulk_work_waits_in_its_own_queue(
    callback_account, wecom_staff, fake_wecom, fake_wecom_server, client
):
    from patients.tasks import import_commit_task

    broker_purge()
    for batch_id in range(900_001, 900_031):  # thirty bulk jobs that nobody here serves
        import_commit_task.delay(batch_id)
    assert broker_queue_length("bulk") == 30
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmQUEUE1", name="排队")
    worker = Worker(
        wecom_base_url=fake_wecom_server[1], concurrency=1, queues=("callbacks",)
    ).start()
    try:
        post(
            client,
            *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, external_userid="wmQUEUE1")),
        )
        arrived = wait_until(
            lambda: Patient.objects.filter(external_userid="wmQUEUE1").exists(), timeout=60
        )
        welcomed = wait_until(lambda: len(fake_wecom.welcome_messages) == 1, timeout=30)
    finally:
        worker.stop()
    assert arrived and welcomed
    assert broker_queue_length("bulk") == 30  # untouched: the callbacks' pool never took bulk work
    broker_purge()
