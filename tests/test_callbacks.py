"""The callback endpoint over HTTP: WeCom's official sample, signed and encrypted events from
the fake WeCom, refusals that change nothing, duplicates, and what each event does."""

import time
from urllib.parse import urlencode

import pytest
from django.core.cache import cache

from patients.choices import Source, Stage, TouchKind
from patients.models import Patient
from tests.conftest import AES_KEY, CALLBACK_TOKEN, CORP_ID, process_pending, tag
from wechat import callbacks
from wechat.channels import channel_code_create
from wechat.models import CallbackEvent, CallbackStatus, ContactArrival, Delivery
from wechat.services import wecom_account_configure
from wechat.transport import client_for

pytestmark = pytest.mark.django_db
# Appended by the composer to every text a patient gets (the clinic's default settings).
NOTICE = "\n\n急症请立即就医或拨打120。"

# WeCom's published encryption sample (the callback documentation).
SAMPLE = {
    "corp_id": "wx5823bf96d3bd56c7",
    "token": "QDG6eK",
    "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    "plaintext": "1616140317555161061",
}
URL = "/wechat/callback/a/"


def sample_clinic(clinic):
    return wecom_account_configure(
        clinic=clinic,
        corp_id=SAMPLE["corp_id"],
        agent_id="218",
        secret="s",
        callback_token=SAMPLE["token"],
        encoding_aes_key=SAMPLE["aes_key"],
    )


def post(client, params, body):
    return client.post(f"{URL}?{urlencode(params)}", data=body, content_type="text/xml")


def add_event(fake, *, userid="wx-assistant", state="", external_userid="wmNEW1", **extra):
    fields = {
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": userid,
        "ExternalUserID": external_userid,
        "State": state,
        "WelcomeCode": fake.issue_welcome_code(),
        **extra,
    }
    return fields


@pytest.fixture
def code(clinic, callback_account, wecom_staff):
    return channel_code_create(
        clinic=clinic,
        name="门诊台卡",
        staff=[wecom_staff["assistant"]],
        tags=[tag(clinic, "甲状腺结节"), tag(clinic, "门诊")],
        stage=Stage.CONVERTED,
        welcome_text="您好，我是李助理。复查报告可以拍照发给我。",
    )


# WeCom's official sample -----------------------------------------------------------------


def test_official_sample_url_verification_decrypts_through_our_code(clinic, client):
    account = sample_clinic(clinic)
    params = {k: SAMPLE[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    assert callbacks.callback_verify_url(account=account, params=params) == SAMPLE["plaintext"]
    # Over HTTP, years after the sample's timestamp: URL verification has no replay window.
    response = client.get(URL, params)
    assert response.status_code == 200
    assert response.content.decode() == SAMPLE["plaintext"]


def test_official_sample_with_a_wrong_signature_is_refused(clinic, client):
    sample_clinic(clinic)
    params = {k: SAMPLE[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    params["msg_signature"] = "0" * 40
    assert client.get(URL, params).status_code == 403


def test_event_encrypted_with_the_sample_keys_decrypts_through_our_code(clinic, client, fake_wecom):
    sample_clinic(clinic)
    fake_wecom.register_app(
        corp_id=SAMPLE["corp_id"], callback_url="", token=SAMPLE["token"], aes_key=SAMPLE["aes_key"]
    )
    fields = {"CreateTime": int(time.time()), "MsgType": "event", "Event": "sample_event"}
    params, body = fake_wecom.signed_packet(SAMPLE["corp_id"], fields)
    response = post(client, params, body)
    assert (response.status_code, response.content) == (200, b"success")
    event = CallbackEvent.objects.get()
    assert event.event == "sample_event" and "wx5823bf96d3bd56c7" in event.xml


# End to end over HTTP: the fake pushes to a live server -----------------------------------


@pytest.fixture
def live_callback(callback_account, fake_wecom, live_server, settings):
    settings.SITE_URL = live_server.url
    fake_wecom.register_app(
        corp_id=CORP_ID,
        callback_url=live_server.url + URL,
        token=CALLBACK_TOKEN,
        aes_key=AES_KEY,
    )
    return fake_wecom


def test_scan_creates_the_patient_with_the_codes_rules_and_sends_the_welcome(
    live_callback, code, clinic, wecom_staff
):
    fake = live_callback
    result = fake.push_add(CORP_ID, userid="wx-assistant", state=code.state, name="陈小红")
    assert (result["status"], result["text"]) == (200, "success")
    # The reply does not wait for the work: the event is stored, the patient not yet made.
    assert not Patient.objects.filter(external_userid=result["external_userid"]).exists()
    assert process_pending() == ["processed"]
    patient = Patient.objects.get(clinic=clinic, external_userid=result["external_userid"])
    assert patient.name == "陈小红"
    assert patient.source == Source.WECOM_QR and patient.source_detail == "门诊台卡"
    assert patient.stage == Stage.CONVERTED
    assert set(patient.tags.names()) == {"甲状腺结节", "门诊"}
    assert patient.assigned_assistant == wecom_staff["assistant"].user
    # The fake accepts a welcome code only within its 20 s, once.
    [welcome] = fake.welcome_messages
    assert welcome["welcome_code"] == result["welcome_code"]
    assert welcome["text"] == "您好，我是李助理。复查报告可以拍照发给我。" + NOTICE
    kinds = list(patient.touches.values_list("kind", flat=True))
    assert TouchKind.WELCOME in kinds and TouchKind.PROFILE in kinds
    arrival = ContactArrival.objects.get(patient=patient)
    assert arrival.channel_code == code and arrival.still_contact


def test_the_same_callback_three_times_is_one_patient_and_one_welcome(live_callback, code, clinic):
    fake = live_callback
    result = fake.push_add(CORP_ID, userid="wx-assistant", state=code.state)
    # WeCom's retries (after 5 s, three times) carry the same packet.
    for _ in range(2):
        status, text, _ms = fake.post_packet(CORP_ID, result["params"], result["body"])
        assert (status, text) == (200, "success")
    assert CallbackEvent.objects.count() == 1
    process_pending()
    process_pending()
    assert Patient.objects.filter(clinic=clinic).count() == 1
    assert len(fake.welcome_messages) == 1
    assert Delivery.objects.filter(idempotency_key__startswith="welcome:").count() == 1


def test_a_replayed_event_with_a_fresh_signature_and_nonce_is_still_one_event(
    callback_account, fake_wecom, client
):
    fields = add_event(fake_wecom)
    for _ in range(3):  # each packet has its own nonce, random prefix and signature
        response = post(client, *fake_wecom.signed_packet(CORP_ID, fields))
        assert (response.status_code, response.content) == (200, b"success")
    assert CallbackEvent.objects.count() == 1


def test_patient_deleting_the_staff_member_is_a_churn_signal(live_callback, code, clinic):
    fake = live_callback
    added = fake.push_add(CORP_ID, userid="wx-assistant", state=code.state)
    process_pending()
    deleted = fake.push_delete(
        CORP_ID, userid="wx-assistant", external_userid=added["external_userid"]
    )
    assert deleted["status"] == 200
    process_pending()
    patient = Patient.objects.get(external_userid=added["external_userid"])
    churn = patient.touches.get(kind=TouchKind.CHURN_SIGNAL)
    assert "删除" in churn.summary and churn.payload["change_type"] == "del_follow_user"
    assert not ContactArrival.objects.get(patient=patient).still_contact


def test_staff_deleting_the_patient_is_a_churn_signal_too(callback_account, wecom_staff):
    from wechat.contacts import contact_arrive, contact_leave

    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wmX", userid="wx-assistant"
    )
    contact_leave(
        account=callback_account, external_userid="wmX", userid="wx-assistant", by_patient=False
    )
    churn = patient.touches.get(kind=TouchKind.CHURN_SIGNAL)
    assert churn.payload["by"] == "staff" and "删除了该患者" in churn.summary


def test_unknown_event_type_is_stored_ignored_and_answered_success(
    callback_account, fake_wecom, client
):
    fields = {"CreateTime": int(time.time()), "MsgType": "event", "Event": "brand_new_event"}
    response = post(client, *fake_wecom.signed_packet(CORP_ID, fields))
    assert (response.status_code, response.content) == (200, b"success")
    assert process_pending() == ["ignored"]
    event = CallbackEvent.objects.get()
    assert event.status == CallbackStatus.IGNORED and event.event == "brand_new_event"
    assert Patient.objects.count() == 0


def test_callback_is_stored_and_processing_waits_for_a_worker(
    callback_account, fake_wecom, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks_run:
        post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom)))
    assert len(callbacks_run) == 1  # the task is enqueued after commit, not run in the view
    assert Patient.objects.count() == 0
    event = CallbackEvent.objects.get()
    assert event.status == CallbackStatus.PENDING


def test_a_lost_broker_message_is_picked_up_by_the_scan(callback_account, fake_wecom, client):
    from django.utils import timezone

    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom)))
    assert callbacks.callback_events_due_ids() == []  # the on-commit task has its grace period
    later = timezone.now() + callbacks.SCAN_GRACE
    [event_id] = callbacks.callback_events_due_ids(now=later)
    assert callbacks.callback_event_process(event_id) == "processed"
    assert callbacks.callback_event_process(event_id) == "not-pending"
    assert Patient.objects.count() == 1


# What each event does -----------------------------------------------------------------------


def test_unknown_state_and_unknown_staff_still_record_the_patient_unassigned(
    callback_account, fake_wecom, client, wecom_staff
):
    fake_wecom.add_contact(userid="wx-stranger", external_userid="wmNEW1", name="刘一")
    fields = add_event(fake_wecom, userid="wx-stranger", state="someone-elses-state")
    post(client, *fake_wecom.signed_packet(CORP_ID, fields))
    process_pending()
    patient = Patient.objects.get(external_userid="wmNEW1")
    assert patient.name == "刘一" and patient.stage == Stage.LEAD
    assert patient.assigned_assistant is None and patient.assigned_doctor is None
    [welcome] = fake_wecom.welcome_messages
    assert welcome["text"] == callback_account.welcome_text
    assert "120" in welcome["text"]  # the default says emergencies go to hospital or 120


def test_profile_unavailable_still_records_the_patient_with_a_placeholder_name(
    callback_account, fake_wecom, client, wecom_staff
):
    # externalcontact/get answers 84061 (not a contact yet): the welcome must still leave.
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom)))
    process_pending()
    patient = Patient.objects.get(external_userid="wmNEW1")
    assert patient.name.endswith("NEW1")
    assert len(fake_wecom.welcome_messages) == 1


def test_an_existing_patient_is_linked_not_duplicated(
    callback_account, fake_wecom, client, code, make_patient
):
    existing = make_patient(name="老患者", external_userid="wmOLD")
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmOLD", name="微信昵称")
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, state=code.state, external_userid="wmOLD")))  # fmt: skip
    process_pending()
    assert Patient.objects.filter(external_userid="wmOLD").count() == 1
    existing.refresh_from_db()
    assert existing.name == "老患者" and existing.stage == Stage.CONVERTED
    assert "甲状腺结节" in existing.tags.names()


def test_a_churned_patient_who_adds_again_comes_back_and_is_welcomed(
    callback_account, fake_wecom, client, make_patient
):
    from patients.services import patient_set_stage

    patient = make_patient(name="回头客", external_userid="wmBACK")
    patient_set_stage(patient=patient, stage=Stage.CHURNED)
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, external_userid="wmBACK")))  # fmt: skip
    process_pending()
    patient.refresh_from_db()
    assert patient.stage == Stage.LEAD
    assert len(fake_wecom.welcome_messages) == 1


def test_edit_refreshes_the_name_from_the_staff_remark_and_mirrors_corp_tags(
    live_callback, code, clinic
):
    fake = live_callback
    thyroid = tag(clinic, "甲状腺结节")
    fake.tag_groups = [{"group_id": "g1", "group_name": "病种", "tag": [{"id": "t-thy", "name": "甲状腺结节"}, {"id": "t-dm", "name": "糖尿病"}]}]  # fmt: skip
    added = fake.push_add(CORP_ID, userid="wx-assistant", state=code.state)
    process_pending()
    fake.push_edit(
        CORP_ID,
        userid="wx-assistant",
        external_userid=added["external_userid"],
        remark="张阿姨",
        tag_ids=["t-dm"],
    )
    process_pending()
    patient = Patient.objects.get(external_userid=added["external_userid"])
    assert patient.name == "张阿姨"
    # Tags are mirrored by their WeCom id: once the library is linked, an edit mirrors them.
    from wechat.sync import corp_tags_sync

    corp_tags_sync(account=code.clinic.wecom_account)
    thyroid.refresh_from_db()
    assert thyroid.wecom_tag_id == "t-thy"
    # WeCom's events carry no id: two edits of one contact in the same second are one event.
    time.sleep(1.05)
    fake.push_edit(CORP_ID, userid="wx-assistant", external_userid=added["external_userid"])
    process_pending()
    assert set(patient.tags.names()) == {"门诊", "糖尿病"}


def test_change_external_tag_syncs_the_tag_library(callback_account, fake_wecom, client, clinic):
    fake_wecom.tag_groups = [{"group_id": "g9", "group_name": "来源", "tag": [{"id": "t-xhs", "name": "小红书"}, {"id": "t-new", "name": "视频号"}]}]  # fmt: skip
    fields = {
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "change_external_tag",
        "ChangeType": "create",
        "Id": "t-new",
        "TagType": "tag",
    }
    post(client, *fake_wecom.signed_packet(CORP_ID, fields))
    assert process_pending() == ["processed"]
    assert tag(clinic, "小红书").wecom_tag_id == "t-xhs"
    assert tag(clinic, "视频号").wecom_tag_id == "t-new"


# Token ------------------------------------------------------------------------------------


def test_one_token_per_corp_in_the_shared_cache_refreshed_when_revoked(
    callback_account, fake_wecom, client, code
):
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, state=code.state)))
    process_pending()
    key = "wecom:" + client_for(callback_account).access_token_key
    assert cache.get(key) in fake_wecom.tokens
    # Stored for WeCom's 7200 s less the margin: refreshed before it expires.
    ttl = cache._cache.get_client().ttl(cache.make_key(key))
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300
    requests_before = fake_wecom.token_requests
    fake_wecom.tokens.clear()  # WeCom revoked it: the next call answers 40014
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, external_userid="wm2")))  # fmt: skip
    process_pending()
    assert fake_wecom.token_requests == requests_before + 1
    assert len(fake_wecom.welcome_messages) == 2


def test_processing_sends_the_welcome_at_once_not_behind_the_queue(
    callback_account, fake_wecom, client, code
):
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, state=code.state)))
    event = CallbackEvent.objects.get()
    assert callbacks.callback_event_process(event.pk) == "processed"
    assert len(fake_wecom.welcome_messages) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "sent" and delivery.expires_at is not None
    assert (delivery.expires_at - event.received_at).total_seconds() == 20
    # The task enqueued on commit comes later and finds nothing to do.
    from wechat.tasks import delivery_send_task

    assert delivery_send_task(delivery.pk) == "not-due"


def test_the_codes_link_card_goes_with_the_welcome(
    callback_account, fake_wecom, client, clinic, wecom_staff
):
    code = channel_code_create(
        clinic=clinic,
        name="术后康复",
        staff=[wecom_staff["assistant"]],
        welcome_text="术后康复指南请点开下方链接。",
        link_title="甲状腺术后康复指南",
        link_url="https://careloop.example.cn/a/1",
    )
    post(client, *fake_wecom.signed_packet(CORP_ID, add_event(fake_wecom, state=code.state)))
    process_pending()
    [welcome] = fake_wecom.welcome_messages
    assert welcome["attachments"] == [
        {
            "msgtype": "link",
            "link": {
                "title": "甲状腺术后康复指南",
                "url": "https://careloop.example.cn/a/1",
                "desc": "",
            },
        }
    ]
