"""Handover in WeCom (在职继承, 离职继承): the fake's rules from WeCom's documentation, the
transfers asked and polled, the patients' timelines, the handover page, and customer
messages in the leaver's name held for the transfer and sent once, from the new member."""

import pytest
import requests
from django.utils import timezone

from crm.models import Membership
from followups.handover import staff_handover
from patients.models import Touch
from tests.conftest import make_staff
from wechat import outbox, transfers, transport
from wechat.models import (
    ContactArrival,
    CustomerTransfer,
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    TransferStatus,
)

DAY = 86_400


@pytest.fixture
def pair(clinic, wecom_account, fake_wecom, assistant, make_patient):
    """Two assistants with WeCom userids (wx-a1 hands over to wx-a2) and three patients who
    are wx-a1's WeCom contacts."""
    other = make_staff(clinic, "assistant", username="a-assistant-2")
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-a1")
    Membership.objects.filter(user=other).update(wecom_userid="wx-a2")
    for userid in ("wx-a1", "wx-a2"):
        fake_wecom.staff_set(userid=userid, name=userid)
        fake_wecom.follow_userids.add(userid)
    people = []
    for i in range(3):
        patient = make_patient(name=f"患者{i}")
        patient.external_userid = f"wm-{i}"
        patient.assigned_assistant = assistant
        patient.save()
        fake_wecom.add_contact(userid="wx-a1", external_userid=f"wm-{i}")
        ContactArrival.objects.create(clinic=clinic, patient=patient, staff_userid="wx-a1")
        people.append(patient)
    return {
        "from": Membership.objects.get(user=assistant),
        "to": Membership.objects.get(user=other),
        "patients": people,
        "account": wecom_account,
    }


def ask(account, ids, *, resigned=False, handover="wx-a1", takeover="wx-a2", message=""):
    return transport.transfer_customers(
        account,
        handover_userid=handover,
        takeover_userid=takeover,
        external_userids=ids,
        resigned=resigned,
        message=message,
    )


def results(account, *, resigned=False, handover="wx-a1", takeover="wx-a2"):
    rows = transport.transfer_results(
        account, handover_userid=handover, takeover_userid=takeover, resigned=resigned
    )
    return {row["external_userid"]: row for row in rows}


def raw(base_url, path, body):
    token = requests.get(base_url + "gettoken", params={"corpid": "c", "corpsecret": "s"}).json()
    return requests.post(
        base_url + path, params={"access_token": token["access_token"]}, json=body
    ).json()


# The fake, as WeCom documents it ---------------------------------------------------------


def test_transfer_starts_waits_24_hours_then_moves_the_contact(pair, fake_wecom):
    account = pair["account"]
    assert ask(account, ["wm-0", "wm-unknown"]) == {"wm-0": 0, "wm-unknown": 40096}
    assert ask(account, ["wm-0"]) == {"wm-0": 40129}  # already being transferred
    waiting = results(account)["wm-0"]
    assert waiting["status"] == 2
    assert waiting["takeover_time"] > timezone.now().timestamp() + DAY - 60
    fake_wecom.transfers_advance(DAY - 60)
    assert results(account)["wm-0"]["status"] == 2
    fake_wecom.transfers_advance(120)
    assert results(account)["wm-0"]["status"] == 1
    follow = [f["userid"] for f in fake_wecom.contacts["wm-0"]["follow_user"]]
    assert follow == ["wx-a2"]


def test_transfer_refused_limit_and_the_ninety_day_rule(pair, fake_wecom):
    account = pair["account"]
    ask(account, ["wm-0", "wm-1"])
    assert fake_wecom.transfer_refuse("wm-0")
    fake_wecom.customer_limit = 0
    fake_wecom.transfers_advance(DAY + 1)
    found = results(account)
    assert (found["wm-0"]["status"], found["wm-1"]["status"]) == (3, 4)
    fake_wecom.customer_limit = 50_000
    # Twice in 90 days, then WeCom refuses a third on-job transfer of the same customer.
    assert ask(account, ["wm-2"]) == {"wm-2": 0}
    fake_wecom.transfers_advance(DAY + 1)
    assert ask(account, ["wm-2"], handover="wx-a2", takeover="wx-a1") == {"wm-2": 0}
    fake_wecom.transfers_advance(DAY + 1)
    assert results(account, handover="wx-a2", takeover="wx-a1")["wm-2"]["status"] == 1
    assert ask(account, ["wm-2"]) == {"wm-2": 40128}


def test_transfer_refusals_of_the_whole_call(pair, fake_wecom, fake_wecom_server):
    account = pair["account"]
    with pytest.raises(transport.WeComError) as unknown:
        ask(account, ["wm-0"], takeover="wx-nobody")
    assert (unknown.value.errcode, unknown.value.permanent) == (60111, True)
    fake_wecom.staff_set(userid="wx-a3", name="无客户联系")
    with pytest.raises(transport.WeComError) as no_contact_feature:
        ask(account, ["wm-0"], takeover="wx-a3")
    assert no_contact_feature.value.errcode == 84074
    with pytest.raises(transport.WeComError) as not_resigned:
        ask(account, ["wm-0"], resigned=True)
    assert not_resigned.value.errcode == 40097
    with pytest.raises(ValueError):
        ask(account, [f"wm-{i}" for i in range(101)])
    base = fake_wecom_server[1]
    body = {"handover_userid": "wx-a1", "takeover_userid": "wx-a2"}
    too_many = raw(base, "externalcontact/transfer_customer",
                   {**body, "external_userid": [f"wm-{i}" for i in range(101)]})  # fmt: skip
    assert too_many["errcode"] == 40058
    long_msg = raw(base, "externalcontact/transfer_customer",
                   {**body, "external_userid": ["wm-0"], "transfer_success_msg": "字" * 201})  # fmt: skip
    assert long_msg["errcode"] == 40058
    assert (
        raw(base, "externalcontact/transfer_result", {"handover_userid": "wx-a1"})["errcode"]
        == 40058
    )


def test_resigned_transfer_after_the_member_left(pair, fake_wecom):
    account = pair["account"]
    fake_wecom.staff_resign("wx-a1")
    with pytest.raises(transport.WeComError) as onjob:
        ask(account, ["wm-0"])
    assert onjob.value.errcode == 60111  # gone from the directory
    assert ask(account, ["wm-0", "wm-1"], resigned=True) == {"wm-0": 0, "wm-1": 0}
    assert results(account) == {}  # the on-job results do not list resigned transfers
    fake_wecom.transfers_advance(DAY + 1)
    assert {r["status"] for r in results(account, resigned=True).values()} == {1}


# CareLoop's side ----------------------------------------------------------------------------


def test_handover_transfers_polls_and_holds_the_leavers_messages(
    pair, fake_wecom, admin_user, client, django_capture_on_commit_callbacks
):
    source, target, people = pair["from"], pair["to"], pair["patients"]
    account = pair["account"]
    held, _ = outbox.delivery_enqueue(
        clinic=source.clinic,
        key="test:held",
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient="wm-0",
        patient=people[0],
        sender="wx-a1",
        body="您好，请按时复查。",
        send_at=timezone.now() + timezone.timedelta(hours=1),
    )
    moved = staff_handover(membership=source, to=target, by=admin_user, message="李四接替我")
    assert moved["assistant_patients"] == 3 and moved["wecom"]
    fake_wecom.transfer_refuse("wm-x")  # nothing waiting yet: no effect
    counts = transfers.transfers_request(
        account=account,
        batch=moved["wecom"],
        handover_userid="wx-a1",
        takeover_userid="wx-a2",
        resigned=False,
        message="李四接替我",
    )
    assert counts == {"waiting": 3, "failed": 0, "skipped": 0}
    again = transfers.transfers_request(
        account=account, batch=moved["wecom"], handover_userid="wx-a1",
        takeover_userid="wx-a2", resigned=False,
    )  # fmt: skip
    assert again == {"waiting": 0, "failed": 0, "skipped": 3}
    assert fake_wecom.calls["externalcontact/transfer_customer"] == 1
    requested = Touch.objects.filter(patient=people[0], payload__event="wecom_transfer")
    assert requested.get().payload["status"] == TransferStatus.WAITING

    # Due now, the message in wx-a1's name waits for its patient's transfer.
    Delivery.objects.filter(pk=held.pk).update(next_attempt_at=timezone.now())
    assert outbox.deliveries_send_due()[held.pk] == "held"
    held.refresh_from_db()
    assert held.status == DeliveryStatus.PENDING
    assert held.next_attempt_at > timezone.now() + timezone.timedelta(hours=23)
    assert fake_wecom.customer_messages == []

    fake_wecom.transfer_refuse("wm-1")
    fake_wecom.transfers_advance(DAY + 1)
    with django_capture_on_commit_callbacks():
        assert transfers.transfers_poll() == {"done": 2, "failed": 1, "waiting": 0, "errors": 0}
    statuses = dict(CustomerTransfer.objects.values_list("external_userid", "status"))
    assert statuses == {"wm-0": "done", "wm-1": "refused", "wm-2": "done"}
    arrival = ContactArrival.objects.get(patient=people[0], staff_userid="wx-a1")
    assert arrival.still_contact is False
    assert ContactArrival.objects.get(patient=people[0], staff_userid="wx-a2").still_contact
    done = Touch.objects.filter(patient=people[0], payload__event="wecom_transfer")
    assert sorted(done.values_list("payload__status", flat=True)) == ["done", "waiting"]

    # Released, it is sent once, from the new member.
    held.refresh_from_db()
    assert held.next_attempt_at <= timezone.now()
    assert outbox.deliveries_send_due()[held.pk] == "sent"
    outbox.deliveries_send_due()  # the notice: confirm it in WeCom, to the new member
    assert [m["touser"] for m in fake_wecom.messages] == ["wx-a2"]
    assert outbox.deliveries_send_due() == {}
    senders = [m["sender"] for m in fake_wecom.customer_messages]
    assert senders == ["wx-a2"]

    # The handover page shows the refusal.
    client.force_login(admin_user)
    page = client.get(f"/settings/staff/{source.pk}/deactivate/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-status="refused"' in html and html.count('data-testid="transfer-row"') == 3


def test_handover_with_a_refused_call_records_failures(pair, fake_wecom, admin_user):
    account = pair["account"]
    fake_wecom.staff_resign("wx-a1")
    counts = transfers.transfers_request(
        account=account, batch="b1", handover_userid="wx-a1", takeover_userid="wx-a2",
        resigned=True,
    )  # fmt: skip
    assert counts["waiting"] == 3
    fake_wecom.remove_follow(userid="wx-a1", external_userid="wm-0")
    fake_wecom.transfers_advance(DAY + 1)
    transfers.transfers_poll()
    statuses = dict(CustomerTransfer.objects.values_list("external_userid", "status"))
    assert statuses == {"wm-0": "no_record", "wm-1": "done", "wm-2": "done"}
    # WeCom refuses a customer that is not wx-a1's any more at the request already.
    ContactArrival.objects.filter(staff_userid="wx-a2").delete()
    ContactArrival.objects.update(still_contact=True, left_at=None)
    failed = transfers.transfers_request(
        account=account, batch="b2", handover_userid="wx-a1", takeover_userid="wx-a2",
        resigned=True,
    )  # fmt: skip
    assert failed == {"waiting": 0, "failed": 3, "skipped": 0}
    errcodes = CustomerTransfer.objects.filter(batch="b2").values_list("errcode", flat=True)
    assert set(errcodes) == {40096}
    assert (
        Touch.objects.filter(payload__event="wecom_transfer", payload__status="failed").count() == 3
    )


# End to end, with a real Celery worker -----------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_handover_end_to_end_through_a_real_worker(
    clinic, wecom_account, fake_wecom, fake_wecom_server, assistant, make_patient, staff
):
    from tests.celery_worker import Worker, broker_purge, wait_until
    from wechat.tasks import transfers_poll_task

    other = make_staff(clinic, "assistant", username="a-assistant-2")
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-a1")
    Membership.objects.filter(user=other).update(wecom_userid="wx-a2")
    for userid in ("wx-a1", "wx-a2"):
        fake_wecom.staff_set(userid=userid, name=userid)
        fake_wecom.follow_userids.add(userid)
    patient = make_patient(name="王五")
    patient.external_userid, patient.assigned_assistant = "wm-e2e", assistant
    patient.save()
    fake_wecom.add_contact(userid="wx-a1", external_userid="wm-e2e")
    ContactArrival.objects.create(clinic=clinic, patient=patient, staff_userid="wx-a1")
    broker_purge()
    worker = Worker(wecom_base_url=fake_wecom_server[1], concurrency=2).start()
    try:
        moved = staff_handover(
            membership=Membership.objects.get(user=assistant),
            to=Membership.objects.get(user=other),
            by=staff["admin"],
        )
        assert moved["wecom"]
        assert wait_until(
            lambda: CustomerTransfer.objects.filter(status=TransferStatus.WAITING).exists(),
            timeout=60,
        )
        outbox.delivery_enqueue(
            clinic=clinic,
            key="e2e:reminder",
            channel=DeliveryChannel.CUSTOMER_MESSAGE,
            recipient="wm-e2e",
            patient=patient,
            sender="wx-a1",
            body="您好，请按时复查。",
        )
        assert wait_until(
            lambda: Delivery.objects.filter(
                idempotency_key="e2e:reminder", next_attempt_at__gt=timezone.now()
            ).exists(),
            timeout=60,
        )
        assert fake_wecom.customer_messages == []
        fake_wecom.transfers_advance(DAY + 1)
        transfers_poll_task.delay()
        assert wait_until(lambda: len(fake_wecom.customer_messages) == 1, timeout=60)
    finally:
        worker.stop()
    transfer = CustomerTransfer.objects.get()
    assert transfer.status == TransferStatus.DONE
    assert [m["sender"] for m in fake_wecom.customer_messages] == ["wx-a2"]
    assert Delivery.objects.get(idempotency_key="e2e:reminder").status == DeliveryStatus.SENT
    assert fake_wecom.calls["externalcontact/transfer_customer"] == 1
