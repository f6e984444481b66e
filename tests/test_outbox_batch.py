"""The outbox in blocks (the morning batch): many rows enqueued in one statement with the
same once-per-key rule, one wake-up per batch, and a sender that claims a block, paces it
with one reservation per bucket and records the results together, against the fake WeCom."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.choices import TouchKind
from wechat import services
from wechat.models import Delivery, DeliveryAttempt, DeliveryStatus, RateBucket
from wechat.sending import PACE_WAIT

pytestmark = pytest.mark.django_db


def customer(clinic, n, patient=None, **kw):
    return {
        "clinic": clinic,
        "key": f"batch:{n}",
        "channel": "customer_message",
        "recipient": f"wm-{n}",
        "sender": "doctor-li",
        "body": f"复查提醒 {n}",
        "patient": patient,
        **kw,
    }


def test_many_at_once_keep_one_row_per_key(clinic, wecom_account):
    existing, _created = services.delivery_enqueue(
        clinic=clinic, key="batch:1", channel="customer_message", recipient="wm-1", body="旧"
    )
    result = services.delivery_enqueue_many(
        [customer(clinic, 1), customer(clinic, 2), customer(clinic, 2), customer(clinic, 3)]
    )
    assert result[(clinic.pk, "batch:1")] == (existing.pk, False)
    assert result[(clinic.pk, "batch:2")][1] and result[(clinic.pk, "batch:3")][1]
    assert Delivery.objects.count() == 3
    assert Delivery.objects.get(pk=existing.pk).body == "旧"  # the first row stays as it was
    again = services.delivery_enqueue_many([customer(clinic, 2), customer(clinic, 3)])
    assert {created for _pk, created in again.values()} == {False}
    assert Delivery.objects.count() == 3


def test_a_batch_wakes_the_senders_once_after_commit(
    clinic, wecom_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.delivery_enqueue_many([customer(clinic, n) for n in range(300)])
    assert len(callbacks) == 1
    # Rows for later (quiet hours) wake nobody; the beat scan sends them when due.
    later = timezone.now() + timedelta(hours=8)
    with django_capture_on_commit_callbacks() as callbacks:
        services.delivery_enqueue_many(
            [customer(clinic, n, send_at=later) for n in range(300, 310)]
        )
    assert callbacks == []


def test_bad_input_in_a_batch_is_refused_whole(clinic, wecom_account):
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        services.delivery_enqueue_many([customer(clinic, 1), customer(clinic, 2, body=" ")])
    assert "body" in refused.value.message_dict
    assert not Delivery.objects.exists()


def test_a_block_is_sent_paced_and_recorded_together(
    clinic, wecom_account, fake_wecom, make_patient, settings
):
    patients = [make_patient(external_userid=f"wm-{n}") for n in range(5)]
    with transaction.atomic():
        services.delivery_enqueue_many([customer(clinic, n, p) for n, p in enumerate(patients)])
    started = timezone.now()
    results = services.deliveries_send_due(limit=10)
    assert sorted(results.values()) == ["sent"] * 5
    assert [m["external_userid"] for m in fake_wecom.customer_messages] == [
        [f"wm-{n}"] for n in range(5)
    ]
    assert fake_wecom.rate_limited == {}
    # One reservation for the block: the corp API bucket moved on by five slots.
    interval = 60 / (10_000 * settings.WECOM_PACING)
    bucket = RateBucket.objects.get(key="api:ww-test-corp:add_msg_template")
    assert bucket.next_free_at >= started + timedelta(seconds=5 * interval)
    assert bucket.next_free_at < timezone.now() + timedelta(seconds=interval)
    sent = Delivery.objects.filter(status=DeliveryStatus.SENT)
    assert sent.count() == 5 and not sent.filter(provider_message_id="").exists()
    assert not sent.exclude(attempts=1).exists()
    attempts = DeliveryAttempt.objects.all()
    assert (
        attempts.count() == 5 and attempts.filter(ok=True, finished_at__isnull=False).count() == 5
    )
    for patient in patients:
        assert patient.touches.filter(kind=TouchKind.MESSAGE, payload__status="sent").count() == 1
    assert services.deliveries_send_due() == {}


def test_a_block_of_one_bucket_paces_past_the_wait(clinic, wecom_account, fake_wecom):
    """Five robot messages claimed together: 20 a minute at 80 % is one per 3.75 s, so the
    first goes now and the others go back to the outbox with their reserved slots."""
    with transaction.atomic():
        services.delivery_enqueue_many(
            [
                {"clinic": clinic, "key": f"robot:{n}", "channel": "robot"}
                | {"recipient": "team", "body": f"早报 {n}"}
                for n in range(5)
            ]
        )
    results = services.deliveries_send_due(limit=10)
    assert sorted(results.values()) == ["paced"] * 4 + ["sent"]
    assert len(fake_wecom.robot_messages) == 1
    waiting = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING).order_by("next_attempt_at")
    )
    assert len(waiting) == 4
    assert all(d.paced_until == d.next_attempt_at for d in waiting)
    # Further away than a sender waits: 3.75 s after the first.
    assert waiting[0].next_attempt_at - timezone.now() > PACE_WAIT
    gaps = {
        b.next_attempt_at - a.next_attempt_at for a, b in zip(waiting, waiting[1:], strict=False)
    }
    assert gaps == {timedelta(seconds=3.75)}
    # Nothing is due before its slot; at its slot a row goes without a second reservation.
    assert services.deliveries_send_due() == {}
    moment = timezone.now()  # time passes: its slot has come
    Delivery.objects.filter(pk=waiting[0].pk).update(next_attempt_at=moment, paced_until=moment)
    assert services.deliveries_send_due() == {waiting[0].pk: "sent"}
    assert fake_wecom.rate_limited == {}


def test_a_welcome_message_goes_ahead_of_a_backlog(clinic, wecom_account, fake_wecom):
    """Its code is valid 20 s: behind a morning batch it would expire before its turn."""
    with transaction.atomic():
        services.delivery_enqueue_many([customer(clinic, n) for n in range(50)])
    welcome, _created = services.delivery_enqueue(
        clinic=clinic,
        key="welcome:1",
        channel="welcome",
        recipient="wmNEW",
        body="欢迎关注",
        payload={"welcome_code": fake_wecom.issue_welcome_code()},
    )
    assert services.deliveries_send_due(limit=1) == {welcome.pk: "sent"}
    assert len(fake_wecom.welcome_messages) == 1 and fake_wecom.customer_messages == []
