"""The outbox against the fake WeCom over real HTTP: once per key, retries, token refresh,
permanent errors, skips, claims, recovery after a dead worker, pacing."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from patients.choices import TouchKind
from patients.services import patient_update
from wechat import services
from wechat.models import Delivery, DeliveryAttempt, DeliveryChannel, DeliveryStatus, RateBucket
from wechat.tasks import deliveries_scan

pytestmark = pytest.mark.django_db


def enqueue(
    clinic,
    key="reminder:1",
    channel=DeliveryChannel.APP_MESSAGE,
    recipient="nurse-wang",
    body="3 位患者今日待随访",
    **kw,
):
    delivery, _created = services.delivery_enqueue(
        clinic=clinic, key=key, channel=channel, recipient=recipient, body=body, **kw
    )
    return delivery


def time_passes(delivery):
    """The retry's time has come, and so has the next free slot of every rate bucket."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    RateBucket.objects.update(next_free_at=timezone.now())


def test_same_key_twice_is_one_row(clinic, wecom_account):
    first, created = services.delivery_enqueue(
        clinic=clinic, key="k", channel="app_message", recipient="u", body="a"
    )
    again, created_again = services.delivery_enqueue(
        clinic=clinic, key="k", channel="app_message", recipient="u", body="b"
    )
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk and Delivery.objects.count() == 1


def test_enqueue_wakes_a_worker_only_after_commit(
    clinic, wecom_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue(clinic)
    assert len(callbacks) == 1


def test_app_message_reaches_wecom_once(clinic, wecom_account, fake_wecom):
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "sent"
    assert services.delivery_send(delivery.pk) == "not-due"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.sent_at is not None
    assert delivery.provider_message_id
    assert [(m["touser"], m["content"]) for m in fake_wecom.messages] == [
        ("nurse-wang", "3 位患者今日待随访")
    ]
    attempt = delivery.attempt_rows.get()
    assert attempt.ok is True and attempt.duration_ms is not None


def test_expired_token_is_refreshed_and_the_call_retried_once(clinic, wecom_account, fake_wecom):
    assert services.delivery_send(enqueue(clinic, key="a").pk) == "sent"
    fake_wecom.faults["expire_token_once"] = True
    assert services.delivery_send(enqueue(clinic, key="b", recipient="doctor-li").pk) == "sent"
    assert fake_wecom.token_requests == 2
    assert len(fake_wecom.messages) == 2


def test_token_is_shared_between_clients(clinic, wecom_account, fake_wecom):
    for n in range(3):
        services.delivery_send(enqueue(clinic, key=f"k{n}", recipient=f"u{n}").pk)
    assert fake_wecom.token_requests == 1


def test_rate_limit_answer_is_retried_later_with_backoff(clinic, wecom_account, fake_wecom):
    fake_wecom.faults.update(errcode=45009, every=1)
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "45009" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
    fake_wecom.faults.update(errcode=None, every=0)
    time_passes(delivery)
    assert services.delivery_send(delivery.pk) == "sent"
    assert list(delivery.attempt_rows.values_list("ok", "errcode")) == [
        (False, 45009),
        (True, None),
    ]


def test_server_error_is_transient(clinic, wecom_account, fake_wecom):
    fake_wecom.faults.update(http_500_every=1)
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "retry"
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


def test_permanent_error_gives_up_at_once(clinic, wecom_account, fake_wecom):
    fake_wecom.faults.update(errcode=40003, every=1)
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "gave-up"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 1


def test_gives_up_after_max_attempts(clinic, wecom_account, fake_wecom, settings):
    settings.WECOM_MAX_ATTEMPTS = 2
    fake_wecom.faults.update(errcode=-1, every=1)
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "retry"
    time_passes(delivery)
    assert services.delivery_send(delivery.pk) == "gave-up"


def test_clinic_without_wecom_gives_up_with_reason(clinic, fake_wecom):
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "gave-up"
    assert "未配置" in Delivery.objects.get(pk=delivery.pk).last_error


def test_patient_without_consent_is_skipped_and_it_shows_on_the_timeline(
    clinic, wecom_account, make_patient, fake_wecom
):
    patient = make_patient(external_userid="wmPATIENT")
    delivery = enqueue(
        clinic,
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient="wmPATIENT",
        sender="doctor-li",
        body="复查提醒",
        patient=patient,
    )
    patient_update(patient=patient, consent_to_contact=False)
    assert services.delivery_send(delivery.pk) == "skipped"
    assert fake_wecom.customer_messages == []
    touch = patient.touches.get(kind=TouchKind.MESSAGE)
    assert "未发送" in touch.summary and touch.payload["status"] == "skipped"


def test_customer_message_is_sent_and_recorded_on_the_timeline(
    clinic, wecom_account, make_patient, fake_wecom
):
    patient = make_patient(external_userid="wmPATIENT")
    delivery = enqueue(
        clinic,
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient="wmPATIENT",
        sender="doctor-li",
        body="复查提醒：请于周三上午来院复查",
        patient=patient,
    )
    assert services.delivery_send(delivery.pk) == "sent"
    assert fake_wecom.customer_messages[0]["external_userid"] == ["wmPATIENT"]
    assert patient.touches.filter(kind=TouchKind.MESSAGE, payload__status="sent").count() == 1


def test_expired_welcome_code_is_missed_not_retried(clinic, wecom_account, fake_wecom):
    delivery = enqueue(
        clinic,
        channel=DeliveryChannel.WELCOME,
        recipient="wmNEW",
        body="欢迎",
        payload={"welcome_code": "never-issued"},
    )
    assert services.delivery_send(delivery.pk) == "missed"
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.MISSED


def test_welcome_with_a_valid_code_is_sent(clinic, wecom_account, fake_wecom):
    code = fake_wecom.issue_welcome_code()
    delivery = enqueue(
        clinic,
        key=f"welcome:{code}",
        channel=DeliveryChannel.WELCOME,
        recipient="wmNEW",
        body="欢迎关注",
        payload={"welcome_code": code},
    )
    assert services.delivery_send(delivery.pk) == "sent"
    assert fake_wecom.welcome_messages[0]["text"] == "欢迎关注"


def test_expired_delivery_is_missed(clinic, wecom_account, fake_wecom):
    delivery = enqueue(clinic, expires_at=timezone.now() - timedelta(seconds=1))
    assert services.delivery_send(delivery.pk) == "missed"
    assert fake_wecom.messages == []


def test_worker_lost_before_the_call_is_resent_without_a_flag(clinic, wecom_account, fake_wecom):
    delivery = enqueue(clinic)
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert services.deliveries_recover_stale() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and not delivery.possible_duplicate
    assert services.delivery_send(delivery.pk) == "sent"


def test_worker_lost_during_the_call_is_flagged_and_wecom_dedupes_the_resend(
    clinic, wecom_account, fake_wecom
):
    delivery = enqueue(clinic)
    assert services.delivery_send(delivery.pk) == "sent"
    # Replay the state a worker leaves when killed after WeCom accepted, before recording.
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", sent_at=None, claimed_at=timezone.now() - timedelta(hours=1)
    )
    DeliveryAttempt.objects.filter(delivery=delivery).update(finished_at=None, ok=None)
    assert services.deliveries_recover_stale() == 1
    delivery.refresh_from_db()
    assert delivery.possible_duplicate and delivery.status == DeliveryStatus.FAILED
    time_passes(delivery)
    assert services.delivery_send(delivery.pk) == "sent"
    assert len(fake_wecom.messages) == 1 and fake_wecom.duplicates_suppressed == 1


def test_a_busy_claim_is_not_sent_twice(clinic, wecom_account, fake_wecom):
    delivery = enqueue(clinic)
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now())
    assert services.delivery_send(delivery.pk) == "not-due"
    assert services.deliveries_recover_stale() == 0
    assert fake_wecom.messages == []


def test_robot_is_paced_below_its_limit(clinic, wecom_account, fake_wecom):
    results = [
        services.delivery_send(
            enqueue(
                clinic,
                key=f"robot:{n}",
                channel=DeliveryChannel.ROBOT,
                recipient="team",
                body=f"早报 {n}",
            ).pk
        )
        for n in range(3)
    ]
    # 20 a minute at 80 %: one every 3.75 s, so the 2nd and 3rd wait for their slots.
    assert results == ["sent", "paced", "paced"]
    waiting = Delivery.objects.filter(status=DeliveryStatus.PENDING).order_by("next_attempt_at")
    gaps = [d.next_attempt_at for d in waiting]
    assert gaps[1] - gaps[0] == timedelta(seconds=3.75)
    assert fake_wecom.rate_limited == {}


def test_scan_finds_due_rows_only(clinic, wecom_account):
    with transaction.atomic():
        enqueue(clinic, key="now")
        enqueue(clinic, key="later", send_at=timezone.now() + timedelta(hours=1))
    assert services.deliveries_due_ids() == [Delivery.objects.get(idempotency_key="now").pk]
    assert deliveries_scan() == 1
