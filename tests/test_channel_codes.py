"""Channel codes: the contact way in WeCom, the state, the referral hook, the pages, the
settings page and command, and outsiders."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from patients.choices import Source, Stage
from patients.models import Patient
from tests.conftest import CORP_ID, process_pending, tag
from wechat.channels import channel_code_create, state_for, state_parse
from wechat.contacts import contact_arrive
from wechat.models import DEFAULT_WELCOME_TEXT, ChannelCode, ChannelCodeKind, WeComAccount

pytestmark = pytest.mark.django_db
# Appended by the composer to every text a patient gets (the clinic's default settings).
NOTICE = "\n\n急症请立即就医或拨打120。"


def make_code(clinic, staff, **kw):
    return channel_code_create(clinic=clinic, name=kw.pop("name", "护士站"), staff=staff, **kw)


def test_creating_a_code_creates_the_contact_way_in_wecom(
    clinic, callback_account, wecom_staff, fake_wecom
):
    code = make_code(
        clinic, [wecom_staff["assistant"], wecom_staff["doctor"]], tags=[tag(clinic, "病房")]
    )
    [way] = fake_wecom.contact_ways
    assert way["state"] == code.state == state_for(kind="c", object_id=code.pk)
    assert sorted(way["user"]) == ["wx-assistant", "wx-doctor"] and way["type"] == 2
    assert code.config_id == way["config_id"] and code.qr_code.startswith("https://")
    assert len(code.state) <= 30 and state_parse(code.state) == ("c", code.pk)


@pytest.mark.parametrize(
    "state,parsed",
    [("c-0", ("c", 0)), ("c-zz", ("c", 1295)), ("r-k3", ("r", 723)), ("p-9", ("p", 9))],
)
def test_states_carry_a_kind_and_an_id(state, parsed):
    assert state_parse(state) == parsed
    assert state_for(kind=parsed[0], object_id=parsed[1]) == state


@pytest.mark.parametrize("state", ["", "c", "c-", "x-1", "c-!!", "hello", "c-" + "z" * 20])
def test_other_states_are_not_ours(state):
    assert state_parse(state) is None


def test_wecom_refusing_the_code_saves_nothing(clinic, callback_account, wecom_staff, fake_wecom):
    fake_wecom.faults.update(errcode=40098, every=1)
    with pytest.raises(ValidationError, match="40098"):
        make_code(clinic, [wecom_staff["assistant"]])
    assert ChannelCode.objects.count() == 0


def test_a_code_needs_staff_with_wecom_userids_of_this_clinic(
    clinic, callback_account, staff, wecom_staff, other_clinic
):
    from crm.models import Membership

    nurse = Membership.objects.get(user=staff["nurse"])  # no WeCom userid
    with pytest.raises(ValidationError) as no_userid:
        make_code(clinic, [nurse])
    assert "staff" in no_userid.value.message_dict
    with pytest.raises(ValidationError) as foreign_tag:
        make_code(clinic, [wecom_staff["assistant"]], tags=[tag(other_clinic, "病房")])
    assert "tags" in foreign_tag.value.message_dict
    with pytest.raises(ValidationError):
        make_code(clinic, [])


def test_referral_codes_record_the_referrer(
    clinic, callback_account, wecom_staff, make_patient, fake_wecom
):
    referrer = make_patient(name="老王")
    code = make_code(
        clinic, [wecom_staff["assistant"]], kind=ChannelCodeKind.REFERRAL, referrer=referrer
    )
    assert state_parse(code.state) == ("r", referrer.pk)
    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wmREF", userid="wx-assistant", state=code.state
    )
    assert patient.source == Source.REFERRAL and patient.referred_by == referrer


def test_a_new_clinic_has_a_sensible_default_welcome(clinic, wecom_account):
    assert wecom_account.welcome_text == DEFAULT_WELCOME_TEXT
    for words in ("报告", "非紧急", "120"):
        assert words in DEFAULT_WELCOME_TEXT


# Pages ------------------------------------------------------------------------------------


def test_the_list_shows_codes_with_counts_per_day_and_still_contacts(
    client, clinic, callback_account, wecom_staff, admin_user
):
    code = make_code(clinic, [wecom_staff["assistant"]], stage=Stage.CONVERTED)
    for n in range(3):
        contact_arrive(
            account=callback_account, external_userid=f"wm{n}", userid="wx-assistant",
            state=code.state,
        )  # fmt: skip
    from wechat.contacts import contact_leave

    contact_leave(account=callback_account, external_userid="wm0", userid="wx-assistant", by_patient=True)  # fmt: skip
    client.force_login(admin_user)
    page = client.get("/wechat/channel-codes/").content.decode()
    assert "护士站" in page and code.qr_code in page and code.state in page
    assert 'data-testid="brought">3<' in page and 'data-testid="current">2<' in page
    assert "模拟扫码" not in page  # only with the demo's fake WeCom


def test_staff_create_a_code_on_the_page(client, clinic, callback_account, wecom_staff, assistant):
    client.force_login(assistant)
    form = client.get("/wechat/channel-codes/new/").content.decode()
    assert "接收客户的员工" in form or "wx-assistant" in form
    response = client.post(
        "/wechat/channel-codes/new/",
        {
            "name": "小红书笔记",
            "staff": [wecom_staff["assistant"].pk],
            "tags": [tag(clinic, "小红书").pk],
            "stage": "",
            "welcome_text": "",
        },
    )
    assert response.status_code == 302
    code = ChannelCode.objects.get(name="小红书笔记")
    assert list(code.tags.all()) == [tag(clinic, "小红书")] and code.config_id


def test_the_form_shows_errors_instead_of_failing(client, callback_account, wecom_staff, assistant):
    client.force_login(assistant)
    response = client.post("/wechat/channel-codes/new/", {"name": "", "staff": ["999999"]})
    assert response.status_code == 200
    assert ChannelCode.objects.count() == 0
    assert "invalid-feedback" in response.content.decode()


def test_nurse_may_look_but_not_create(client, nurse, callback_account):
    client.force_login(nurse)
    assert client.get("/wechat/channel-codes/").status_code == 200
    assert client.get("/wechat/channel-codes/new/").status_code == 403


def test_outsiders_get_404_for_another_clinics_code_and_never_see_it(
    client, clinic, callback_account, wecom_staff, outsider, settings
):
    settings.WECOM_FAKE_CONTROL_URL = "http://127.0.0.1:9/_fake/"
    code = make_code(clinic, [wecom_staff["assistant"]], name="本院专用码")
    client.force_login(outsider)
    assert client.post(f"/wechat/channel-codes/{code.pk}/simulate/").status_code == 404
    assert "本院专用码" not in client.get("/wechat/channel-codes/").content.decode()
    assert "本院专用码" not in client.get("/wechat/channel-codes/arrivals/").content.decode()


def test_anonymous_is_sent_to_login(client):
    for url in ("/wechat/channel-codes/", "/wechat/settings/", "/wechat/channel-codes/new/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_simulated_scan_asks_the_fake_to_push_and_the_patient_appears(
    live_server, client, clinic, callback_account, wecom_staff, assistant, fake_wecom, settings
):
    settings.SITE_URL = live_server.url
    settings.WECOM_FAKE_CONTROL_URL = settings.WECOM_API_BASE_URL.replace("/cgi-bin/", "/_fake/")
    code = make_code(clinic, [wecom_staff["assistant"]], welcome_text="欢迎！")
    client.force_login(assistant)
    assert "模拟扫码" in client.get("/wechat/channel-codes/").content.decode()
    response = client.post(f"/wechat/channel-codes/{code.pk}/simulate/")
    assert response.status_code == 302
    assert [p["status"] for p in fake_wecom.pushes] == [200]
    process_pending()
    patient = Patient.objects.get(clinic=clinic)
    assert fake_wecom.welcome_messages[0]["text"] == "欢迎！" + NOTICE
    arrivals = client.get("/wechat/channel-codes/arrivals/").content.decode()
    assert patient.name in arrivals and "欢迎！" in arrivals


# Settings ---------------------------------------------------------------------------------


def test_admin_edits_settings_and_secrets_are_never_shown_again(client, clinic, admin_user):
    client.force_login(admin_user)
    page = client.get("/wechat/settings/").content.decode()
    assert "/wechat/callback/a/" in page and "120" in page  # the default welcome, editable
    response = client.post(
        "/wechat/settings/",
        {
            "corp_id": "ww-corp",
            "agent_id": "1000005",
            "secret": "super-secret-value",
            "callback_token": "tok-123",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "robot_key": "",
            "welcome_text": "您好，欢迎！急症请拨打 120。",
        },
    )
    assert response.status_code == 302
    account = WeComAccount.objects.get(clinic=clinic)
    assert account.secret == "super-secret-value" and "super-secret" not in account.secret_encrypted
    page = client.get("/wechat/settings/").content.decode()
    assert "super-secret-value" not in page and "tok-123" not in page and "ABCDEFG" not in page
    # Blank secrets keep the stored ones.
    client.post(
        "/wechat/settings/",
        {"corp_id": "ww-corp", "agent_id": "1000005", "welcome_text": "新的欢迎语"},
    )
    account.refresh_from_db()
    assert account.secret == "super-secret-value" and account.callback_token == "tok-123"
    assert account.welcome_text == "新的欢迎语"


def test_settings_refuse_a_bad_aes_key_with_a_clear_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/wechat/settings/",
        {"corp_id": "c", "agent_id": "1", "secret": "s", "encoding_aes_key": "short", "welcome_text": "w"},
    )  # fmt: skip
    assert response.status_code == 200 and WeComAccount.objects.count() == 0
    assert "43" in response.content.decode()


def test_only_admins_open_the_settings(client, assistant, outsider):
    client.force_login(assistant)
    assert client.get("/wechat/settings/").status_code == 403


def test_wecom_configure_command_prints_the_callback_url_and_is_idempotent(clinic, capsys):
    args = ["--clinic", "a", "--corp-id", CORP_ID, "--agent-id", "1000002", "--secret", "s1"]
    args += ["--token", "t1", "--aes-key", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"]
    call_command("wecom_configure", *args)
    call_command("wecom_configure", *args)
    out = capsys.readouterr().out
    assert "/wechat/callback/a/" in out
    assert WeComAccount.objects.get().callback_token == "t1"


def test_clinic_admin_sees_only_their_own_codes_and_callbacks_in_django_admin(
    client, clinic, other_clinic, callback_account, wecom_staff, admin_user
):
    from wechat.models import CallbackEvent

    make_code(clinic, [wecom_staff["assistant"]], name="本院活码")
    CallbackEvent.objects.create(
        clinic=other_clinic, dedupe_key="x", event="外院事件", xml="<xml/>"
    )
    client.force_login(admin_user)
    codes = client.get("/admin/wechat/channelcode/").content.decode()
    assert "本院活码" in codes
    callbacks_page = client.get("/admin/wechat/callbackevent/")
    assert callbacks_page.status_code == 200 and "外院事件" not in callbacks_page.content.decode()


def test_one_referral_code_per_referrer(clinic, callback_account, wecom_staff, make_patient):
    referrer = make_patient(name="老李")
    make_code(clinic, [wecom_staff["assistant"]], kind=ChannelCodeKind.REFERRAL, referrer=referrer)
    with pytest.raises(ValidationError, match="转介绍码"):
        make_code(
            clinic, [wecom_staff["assistant"]], kind=ChannelCodeKind.REFERRAL, referrer=referrer
        )
    assert ChannelCode.objects.count() == 1


def test_the_form_does_not_offer_churned_as_a_stage(client, callback_account, assistant):
    client.force_login(assistant)
    form = client.get("/wechat/channel-codes/new/").content.decode()
    assert 'value="converted"' in form and 'value="churned"' not in form


def test_pages_speak_chinese_by_default_and_english_on_request(client, admin_user, wecom_account):
    client.force_login(admin_user)
    assert "渠道活码" in client.get("/wechat/channel-codes/").content.decode()
    assert "企业微信设置" in client.get("/wechat/settings/").content.decode()
    english = client.get("/wechat/channel-codes/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Channel codes" in english and "渠道活码" not in english


def test_a_code_cannot_carry_two_tags_of_a_single_choice_group(
    clinic, callback_account, wecom_staff
):
    with pytest.raises(ValidationError) as error:
        make_code(
            clinic, [wecom_staff["assistant"]], tags=[tag(clinic, "轻度"), tag(clinic, "重度")]
        )
    assert "严重程度" in error.value.message_dict["tags"][0]


def test_recent_arrivals_show_each_patients_latest_entries(
    client, clinic, callback_account, wecom_staff, admin_user, make_patient
):
    from patients.timeline import touch_record

    patient = make_patient(name="老病号", external_userid="wmOLDIE")
    for n in range(10):
        touch_record(patient=patient, kind="note", summary=f"旧记录{n}")
    contact_arrive(account=callback_account, external_userid="wmOLDIE", userid="wx-assistant")
    client.force_login(admin_user)
    panel = client.get("/wechat/channel-codes/arrivals/").content.decode()
    # Newest first: the arrival's entry, then the five latest notes; the oldest are left out.
    assert panel.count("<li ") == 6 and 'data-kind="profile"' in panel
    assert "旧记录9" in panel and "旧记录4" not in panel
