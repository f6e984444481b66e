"""Customer groups (客户群): the fake's groupchat/list and groupchat/get with WeCom's refusals,
the sync, the change_external_chat callbacks (joins and leaves on the patients' timelines,
each recorded once), and the groups scoped by clinic."""

import pytest
import requests

from patients.choices import TouchKind
from patients.models import Touch
from tests.conftest import CORP_ID, process_pending
from tests.test_callbacks import post
from wechat import groupchats, transport
from wechat.models import CallbackEvent, GroupChat, GroupChatStatus, GroupMember
from wechat.transport import client_for

pytestmark = pytest.mark.django_db


def raw(account, path, data):
    """One call as WeCom answers it (errcode included), through wechatpy's session."""
    client = client_for(account)
    token = client.access_token
    return requests.post(
        f"{client.API_BASE_URL}{path}", params={"access_token": token}, json=data, timeout=5
    ).json()


# The fake: WeCom's answers and refusals ----------------------------------------------------


def test_groupchat_list_pages_with_its_cursor_and_filters(wecom_account, fake_wecom):
    ids = [fake_wecom.group_create(owner="wx-a", name=f"群{i}")["chat_id"] for i in range(5)]
    fake_wecom.group_create(owner="wx-b", name="别人的群")
    first = raw(wecom_account, "externalcontact/groupchat/list", {"limit": 2})
    assert first["errcode"] == 0
    assert [r["chat_id"] for r in first["group_chat_list"]] == ids[:2]
    assert first["group_chat_list"][0]["status"] == 0
    seen = [r["chat_id"] for r in first["group_chat_list"]]
    cursor = first["next_cursor"]
    while cursor:
        page = raw(wecom_account, "externalcontact/groupchat/list", {"limit": 2, "cursor": cursor})
        seen += [r["chat_id"] for r in page["group_chat_list"]]
        cursor = page["next_cursor"]
    assert len(seen) == 6 and set(ids) < set(seen)
    owned = raw(
        wecom_account,
        "externalcontact/groupchat/list",
        {"limit": 100, "owner_filter": {"userid_list": ["wx-b"]}},
    )
    assert len(owned["group_chat_list"]) == 1
    resigned = raw(
        wecom_account, "externalcontact/groupchat/list", {"limit": 10, "status_filter": 1}
    )
    assert resigned["group_chat_list"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},  # limit is required
        {"limit": 0},
        {"limit": 1001},
        {"limit": "many"},
        {"limit": 10, "status_filter": 7},
        {"limit": 10, "cursor": "not-a-cursor"},
    ],
)
def test_groupchat_list_refuses_what_wecom_refuses(wecom_account, fake_wecom, body):
    answer = raw(wecom_account, "externalcontact/groupchat/list", body)
    assert answer["errcode"] == 40058


def test_groupchat_get_members_and_unknown_chat(wecom_account, fake_wecom):
    fake_wecom.add_contact(userid="wx-a", external_userid="wmP1", name="王五")
    chat_id = fake_wecom.group_create(owner="wx-a", name="糖尿病群", externals=["wmP1"])["chat_id"]
    answer = raw(wecom_account, "externalcontact/groupchat/get", {"chat_id": chat_id})
    chat = answer["group_chat"]
    assert (chat["name"], chat["owner"]) == ("糖尿病群", "wx-a")
    types = {m["userid"]: m["type"] for m in chat["member_list"]}
    assert types == {"wx-a": 1, "wmP1": 2}
    assert all("name" not in m for m in chat["member_list"])  # need_name not asked
    named = raw(
        wecom_account, "externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1}
    )
    assert {m["userid"]: m["name"] for m in named["group_chat"]["member_list"]}["wmP1"] == "王五"
    missing = raw(wecom_account, "externalcontact/groupchat/get", {"chat_id": "wrNOPE"})
    assert missing["errcode"] == 40050
    with pytest.raises(transport.WeComError) as exc:
        transport.groupchat_get(wecom_account, chat_id="wrNOPE")
    assert exc.value.errcode == 40050 and exc.value.permanent
    fake_wecom.group_dismiss(chat_id)
    gone = raw(wecom_account, "externalcontact/groupchat/get", {"chat_id": chat_id})
    assert gone["errcode"] == 40050


# The sync ---------------------------------------------------------------------------------


def test_sync_mirrors_groups_and_members_and_is_idempotent(
    wecom_account, fake_wecom, clinic, make_patient
):
    patient = make_patient(name="李四", external_userid="wmP1")
    chat_id = fake_wecom.group_create(owner="wx-a", name="高血压群", externals=["wmP1", "wmX"])[
        "chat_id"
    ]
    report = groupchats.groupchats_sync(account=wecom_account)
    assert (report.groups, report.joined) == (1, 1)
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    assert (group.name, group.owner, group.member_count) == ("高血压群", "wx-a", 3)
    assert GroupMember.objects.get(group=group, userid="wmP1").patient == patient
    assert GroupMember.objects.get(group=group, userid="wmX").patient is None
    again = groupchats.groupchats_sync(account=wecom_account)
    assert (again.joined, again.left) == (0, 0)
    assert Touch.objects.filter(patient=patient, kind=TouchKind.GROUP).count() == 1
    # A group WeCom no longer lists is dismissed; its patient is told on the timeline.
    fake_wecom.group_dismiss(chat_id)
    gone = groupchats.groupchats_sync(account=wecom_account)
    assert gone.dismissed == 1
    group.refresh_from_db()
    assert group.status == GroupChatStatus.DISMISSED and group.member_count == 0
    assert not GroupMember.objects.filter(group=group).exists()
    assert Touch.objects.filter(patient=patient, kind=TouchKind.GROUP).count() == 2


def test_sync_pages_past_one_thousand_groups(wecom_account, fake_wecom):
    for i in range(1003):
        fake_wecom.groupchats[f"wr{i:05d}"] = {
            "chat_id": f"wr{i:05d}",
            "name": "",
            "owner": "wx-a",
            "create_time": 0,
            "notice": "",
            "status": 0,
            "dismissed": False,
            "members": {},
            "version": 1,
        }
    assert len(list(transport.groupchat_ids(wecom_account))) == 1003
    assert fake_wecom.state()["calls"]["externalcontact/groupchat/list"] == 2


# Callbacks --------------------------------------------------------------------------------


def deliver(client, fake, result):
    """The event the fake made, posted signed and encrypted like WeCom posts it."""
    return post(client, *fake.signed_packet(CORP_ID, result["fields"]))


def test_chat_callbacks_put_joins_and_leaves_on_the_timeline_once(
    callback_account, fake_wecom, client, clinic, make_patient
):
    patient = make_patient(name="赵六", external_userid="wmP2")
    created = fake_wecom.group_create(owner="wx-a", name="慢病群")
    chat_id = created["chat_id"]
    assert deliver(client, fake_wecom, created).content == b"success"
    assert process_pending() == ["processed"]
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    assert group.member_count == 1

    joined = fake_wecom.group_join(chat_id, ["wmP2"])
    assert joined["fields"]["UpdateDetail"] == "add_member"
    deliver(client, fake_wecom, joined)
    deliver(client, fake_wecom, joined)  # WeCom resends: stored once
    assert process_pending() == ["processed"]
    entries = Touch.objects.filter(patient=patient, kind=TouchKind.GROUP)
    assert [t.payload["event"] for t in entries] == ["group_join"]
    assert "慢病群" in entries[0].summary

    # A processed event processed again (a redelivered task) changes nothing.
    event = CallbackEvent.objects.filter(change_type="update").get()
    from wechat.tasks import callback_process_task

    assert callback_process_task(event.pk) == "not-pending"

    deliver(client, fake_wecom, fake_wecom.group_rename(chat_id, "糖尿病 2 群"))
    deliver(client, fake_wecom, fake_wecom.group_leave(chat_id, ["wmP2"]))
    assert process_pending() == ["processed", "processed"]
    group.refresh_from_db()
    assert group.name == "糖尿病 2 群" and group.member_count == 1
    assert sorted(
        Touch.objects.filter(patient=patient, kind=TouchKind.GROUP).values_list(
            "payload__event", flat=True
        )
    ) == ["group_join", "group_leave"]

    deliver(client, fake_wecom, fake_wecom.group_dismiss(chat_id))
    assert process_pending() == ["processed"]
    group.refresh_from_db()
    assert group.status == GroupChatStatus.DISMISSED


def test_an_event_for_another_chat_of_an_unknown_id_is_processed_without_a_group(
    callback_account, fake_wecom, client, clinic
):
    fields = fake_wecom._chat_event("wrGONE", "update", UpdateDetail="add_member")
    deliver(client, fake_wecom, {"fields": fields})
    assert process_pending() == ["processed"]
    assert not GroupChat.objects.filter(clinic=clinic).exists()


def test_groups_are_scoped_by_clinic(wecom_account, fake_wecom, clinic, other_clinic):
    chat_id = fake_wecom.group_create(owner="wx-a", name="本院群")["chat_id"]
    groupchats.groupchats_sync(account=wecom_account)
    assert GroupChat.objects.filter(clinic=clinic, chat_id=chat_id).exists()
    assert not GroupChat.objects.filter(clinic=other_clinic).exists()


# Group mass messages (客户群群发) ------------------------------------------------------------


def test_group_template_refusals(wecom_account, fake_wecom):
    no_sender = raw(
        wecom_account,
        "externalcontact/add_msg_template",
        {"chat_type": "group", "text": {"content": "hi"}},
    )
    assert no_sender["errcode"] == 41048
    too_many = raw(
        wecom_account,
        "externalcontact/add_msg_template",
        {
            "chat_type": "group",
            "sender": "wx-a",
            "chat_id_list": [f"wr{i}" for i in range(2001)],
            "text": {"content": "hi"},
        },
    )
    assert too_many["errcode"] == 40058
    empty = raw(
        wecom_account,
        "externalcontact/add_msg_template",
        {"chat_type": "group", "sender": "wx-a", "chat_id_list": []},
    )
    assert empty["errcode"] == 41049
    other = raw(
        wecom_account,
        "externalcontact/add_msg_template",
        {"chat_type": "moments", "sender": "wx-a", "text": {"content": "hi"}},
    )
    assert other["errcode"] == 40058


def test_group_message_goes_to_the_owner_to_confirm_and_its_result_is_read(
    wecom_account, fake_wecom, clinic
):
    from wechat.groupmsg import customer_results_poll
    from wechat.models import DeliveryStatus, RecipientStatus
    from wechat.tasks import delivery_send_task

    chat_id = fake_wecom.group_create(owner="wx-a", name="糖友群")["chat_id"]
    groupchats.groupchats_sync(account=wecom_account)
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    delivery = groupchats.group_message_send(group=group, text="本周六上午有糖尿病讲座")
    again = groupchats.group_message_send(group=group, text="本周六上午有糖尿病讲座")
    assert again.pk == delivery.pk  # a double submit is one message
    delivery_send_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.sender == "wx-a"
    [task] = [t for t in fake_wecom.customer_messages if t["chat_type"] == "group"]
    assert task["chat_id_list"] == [chat_id] and task["sender"] == "wx-a"
    assert task["content"].startswith("本周六上午有糖尿病讲座")  # the composer's notice follows
    # The owner is told to confirm (an app message), like for a customer message.
    from wechat.outbox import deliveries_due_ids

    for due in deliveries_due_ids():
        delivery_send_task(due)
    assert any(m["touser"] == "wx-a" for m in fake_wecom.messages)
    assert customer_results_poll()["waiting"] == 1
    assert fake_wecom.confirm(userid="wx-a") == [task["msgid"]]
    assert customer_results_poll()["final"] == 1
    assert delivery.recipient_rows.get().status == RecipientStatus.DELIVERED


def test_group_message_refuses_variables_and_dismissed_groups(wecom_account, fake_wecom, clinic):
    from django.core.exceptions import ValidationError

    chat_id = fake_wecom.group_create(owner="wx-a", name="群")["chat_id"]
    groupchats.groupchats_sync(account=wecom_account)
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    with pytest.raises(ValidationError):
        groupchats.group_message_send(group=group, text="{姓名}您好")
    group.status = GroupChatStatus.DISMISSED
    with pytest.raises(ValidationError) as exc:
        groupchats.group_message_send(group=group, text="通知")
    assert "解散" in " ".join(exc.value.messages)


# The page ---------------------------------------------------------------------------------


def test_groups_page_and_another_clinics_group_is_404(
    wecom_account, fake_wecom, clinic, other_clinic, staff, outsider, client
):
    chat_id = fake_wecom.group_create(owner="wx-a", name="肾病群")["chat_id"]
    groupchats.groupchats_sync(account=wecom_account)
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    client.force_login(staff["admin"])
    page = client.get("/wechat/groups/")
    assert page.status_code == 200 and "肾病群" in page.content.decode()
    sent = client.post(f"/wechat/groups/{group.pk}/message/", {"body": "复查提醒"}, follow=True)
    assert "群主" in sent.content.decode() or "确认" in sent.content.decode()
    empty = client.post(f"/wechat/groups/{group.pk}/message/", {"body": ""}, follow=True)
    assert empty.status_code == 200
    client.force_login(outsider)
    assert client.get("/wechat/groups/").content.decode().count("肾病群") == 0
    assert client.post(f"/wechat/groups/{group.pk}/message/", {"body": "x"}).status_code == 404
    from tests.conftest import make_staff

    client.force_login(make_staff(other_clinic, "admin", "other-admin"))
    assert client.post(f"/wechat/groups/{group.pk}/tag/", {"disease_tag": ""}).status_code == 404
    # An admin of this clinic cannot put another clinic's tag on a group either.
    foreign = other_clinic.tags.order_by("pk").first()
    assert foreign is not None
    client.force_login(staff["admin"])
    assert (
        client.post(f"/wechat/groups/{group.pk}/tag/", {"disease_tag": foreign.pk}).status_code
        == 404
    )
    mine = clinic.tags.order_by("pk").first()
    client.post(f"/wechat/groups/{group.pk}/tag/", {"disease_tag": mine.pk})
    group.refresh_from_db()
    assert group.disease_tag == mine


def test_patient_page_shows_the_patients_groups(
    wecom_account, fake_wecom, clinic, staff, client, make_patient
):
    patient = make_patient(name="钱七", external_userid="wmP7")
    fake_wecom.group_create(owner="wx-a", name="哮喘群", externals=["wmP7"])
    fake_wecom.group_create(owner="wx-a", name="别的群")
    groupchats.groupchats_sync(account=wecom_account)
    client.force_login(staff["admin"])
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    section = html.split('data-testid="wecom-groups"')[1].split("</dd>")[0]
    assert "哮喘群" in section and "别的群" not in section


def test_a_group_message_in_doubt_is_found_in_wecom_not_sent_twice(
    wecom_account, fake_wecom, clinic
):
    """A worker died during the group add_msg_template: the flagged row finds WeCom's
    group task (chat_type group, rows by chat_id) and records it instead of resending."""
    from datetime import timedelta

    from django.utils import timezone

    from wechat import outbox
    from wechat.models import Delivery, DeliveryAttempt, DeliveryStatus
    from wechat.tasks import delivery_send_task

    chat_id = fake_wecom.group_create(owner="wx-a", name="糖友群")["chat_id"]
    groupchats.groupchats_sync(account=wecom_account)
    group = GroupChat.objects.get(clinic=clinic, chat_id=chat_id)
    delivery = groupchats.group_message_send(group=group, text="讲座通知")
    made = fake_wecom.add_msg_template(
        {"chat_type": "group", "sender": "wx-a", "chat_id_list": [chat_id],
         "text": {"content": delivery.body}}
    )  # fmt: skip
    DeliveryAttempt.objects.create(clinic=clinic, delivery=delivery)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert outbox.deliveries_recover_stale() == 1
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    calls = fake_wecom.calls["externalcontact/add_msg_template"]
    delivery_send_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_message_id == made["msgid"]
    assert fake_wecom.calls["externalcontact/add_msg_template"] == calls  # not resent
