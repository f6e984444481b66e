"""The one composer (wechat.composer): {姓名} in a welcome filled, red lines refused when a
text is saved and blocked when it is sent (every kind of text), a literal placeholder never
sent, a name with braces filled once, WeCom's 4000-byte limit, {name} rewritten."""

import importlib
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from content.campaigns import campaign_save, campaign_schedule, campaign_start
from content.messages import patient_message_send
from content.models import CampaignRecipient
from content.surveys import survey_invite, survey_save
from content.templates_service import message_template_save
from content.templating import render
from followups import services as followups
from followups.models import Action, CarePlanTemplateVersion, ReminderState
from patients.choices import TouchKind
from patients.services import patient_update
from tests.conftest import process_pending
from tests.followups_factories import step
from wechat import composer
from wechat.channels import channel_code_create
from wechat.contacts import contact_arrive
from wechat.models import Delivery, RedLinePhrase
from wechat.services import wecom_account_configure

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTICE = "\n\n急症请立即就医或拨打120。"
FORBIDDEN = "本院根治失眠"


def test_a_welcome_fills_the_patients_name_and_gets_the_notice(
    clinic, callback_account, wecom_staff, fake_wecom, client
):
    code = channel_code_create(
        clinic=clinic,
        name="门诊台卡",
        staff=[wecom_staff["assistant"]],
        welcome_text="{name}您好，我是李助理，欢迎来到{诊所}。",  # saved as {姓名}
    )
    assert code.welcome_text == "{姓名}您好，我是李助理，欢迎来到{诊所}。"
    external_userid = fake_wecom.add_contact(userid="wx-assistant", name="陈小红")
    patient, welcome = contact_arrive(
        account=callback_account,
        external_userid=external_userid,
        userid="wx-assistant",
        state=code.state,
        welcome_code=fake_wecom.issue_welcome_code(),
        profile={"external_contact": {"name": "陈小红"}},
    )
    assert welcome.body == f"陈小红您好，我是李助理，欢迎来到{clinic.name}。" + NOTICE
    process_pending()
    assert fake_wecom.welcome_messages[0]["text"] == welcome.body


def test_red_lines_are_refused_when_saved_naming_the_phrase_for_every_kind_of_text(
    clinic, callback_account, wecom_staff
):
    savers = {
        "campaign": lambda: campaign_save(clinic=clinic, name="讲座", body=FORBIDDEN),
        "template": lambda: message_template_save(clinic=clinic, name="t", body=FORBIDDEN),
        "welcome": lambda: channel_code_create(
            clinic=clinic, name="码", staff=[wecom_staff["assistant"]], welcome_text=FORBIDDEN
        ),
        "default welcome": lambda: wecom_account_configure(
            clinic=clinic, corp_id="ww-test-corp", agent_id="1000002", welcome_text=FORBIDDEN
        ),
        "care plan step": lambda: followups.template_create(
            clinic=clinic,
            name="随访",
            steps=[step("提醒", 1, Action.MESSAGE, message=FORBIDDEN)],
        ),
        "survey": lambda: survey_save(clinic=clinic, title="满意度", question=FORBIDDEN),
    }
    for kind, save in savers.items():
        with pytest.raises(ValidationError) as error:
            save()
        assert "“根治”" in str(error.value), kind


@pytest.fixture
def reachable(make_patient, staff, wecom_staff):
    return make_patient(
        name="周芳",
        external_userid="wm-zf",
        assigned_assistant=staff["assistant"],
        assigned_doctor=staff["doctor"],
    )


def red_line_added_later(clinic, phrase="保证见效"):
    composer.Composer(clinic)  # the clinic's defaults exist first
    RedLinePhrase.objects.create(clinic=clinic, phrase=phrase, reason="承诺疗效")


def test_red_lines_added_after_saving_block_every_kind_of_text_at_send(
    clinic, callback_account, wecom_staff, fake_wecom, reachable, staff
):
    campaign = campaign_save(clinic=clinic, name="讲座", body="您好，保证见效的讲座")
    template = message_template_save(clinic=clinic, name="问候", body="您好，保证见效")
    code = channel_code_create(
        clinic=clinic, name="码", staff=[wecom_staff["assistant"]], welcome_text="您好，保证见效"
    )
    care = followups.template_create(
        clinic=clinic,
        name="复查",
        steps=[step("复查提醒", 0, Action.RE_EXAM, message="{姓名}您好，保证见效，请来复查。")],
    )
    plan, _ = followups.plan_start(patient=reachable, template=care, anchor_date=date(2026, 3, 1))
    campaign_schedule(campaign=campaign)
    red_line_added_later(clinic)

    # Campaign: the patient is left out with the reason, nothing queued.
    campaign_start(campaign_id=campaign.pk)
    row = CampaignRecipient.objects.get(campaign=campaign)
    assert (row.included, row.reason) == (False, "text_refused")
    # Single message: refused, naming the phrase.
    with pytest.raises(ValidationError, match="保证见效"):
        patient_message_send(
            patient=reachable, template=template, token=secrets.token_urlsafe(16), by=staff["admin"]
        )
    # Welcome: not sent, the reason on the timeline.
    patient, welcome = contact_arrive(
        account=callback_account,
        external_userid="wm-new",
        userid="wx-assistant",
        state=code.state,
        welcome_code=fake_wecom.issue_welcome_code(),
    )
    assert welcome is None
    refused = patient.touches.get(kind=TouchKind.WELCOME)
    assert "保证见效" in refused.summary
    # Re-exam reminder: skipped with the reason.
    result = followups.patient_reminders_enqueue(now=datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))
    assert result["skipped"] == 1
    task = plan.tasks.get()
    assert task.reminder_state == ReminderState.SKIPPED
    assert "保证见效" in reachable.touches.get(payload__event="reminder_skipped").summary
    # Survey invitation: the question is checked again when it is sent.
    survey = survey_save(clinic=clinic, title="满意度", question="您对本次就诊满意吗？")
    RedLinePhrase.objects.create(clinic=clinic, phrase="满意吗", reason="测试")
    with pytest.raises(ValidationError, match="满意吗"):
        survey_invite(survey=survey, patient=reachable, by=staff["admin"])
    assert not Delivery.objects.filter(patient=reachable).exists()


def test_a_literal_placeholder_is_never_sent(clinic, reachable, staff, make_patient):
    template = message_template_save(clinic=clinic, name="问候", body="{姓名}您好")
    send = lambda patient, text: patient_message_send(  # noqa: E731
        patient=patient,
        template=template,
        token=secrets.token_urlsafe(16),
        text=text,
        by=staff["admin"],
    )
    with pytest.raises(ValidationError, match="未知变量 {手机号}"):
        send(reachable, "{姓名}您好，{手机号}")
    no_doctor = make_patient(
        name="吴刚", external_userid="wm-wg", assigned_assistant=staff["assistant"]
    )
    with pytest.raises(ValidationError, match="缺少变量 {复诊日期} 的值"):
        send(no_doctor, "{姓名}您好，请于{复诊日期}复查")
    assert not Delivery.objects.exists()


def test_a_name_with_braces_is_filled_once(clinic, reachable, staff):
    patient_update(patient=reachable, name="张{三}")
    template = message_template_save(clinic=clinic, name="问候", body="{姓名}您好")
    # The page shows the filled preview; the user sends it back as edited.
    preview = render(template_text=template.body, patient=reachable)
    assert preview == "张{三}您好"
    delivery, created = patient_message_send(
        patient=reachable,
        template=template,
        token=secrets.token_urlsafe(16),
        text=preview + "，明天见",
        by=staff["admin"],
    )
    assert created and delivery.body == "张{三}您好，明天见" + NOTICE


def test_wecom_length_limit_at_save_and_preview(clinic, reachable):
    long = "好" * 1400  # 4200 bytes in UTF-8
    with pytest.raises(ValidationError, match="4000"):
        message_template_save(clinic=clinic, name="长", body=long)
    preview = composer.Composer(clinic).preview("{姓名}您好", patient=reachable)
    assert preview["text"] == "周芳您好" + NOTICE and preview["limit"] == 4000
    assert preview["bytes"] == len(preview["text"].encode())
    assert "未知变量" in composer.Composer(clinic).preview("{手机}", patient=reachable)["error"]


def test_the_data_migration_rewrites_english_placeholders(clinic):
    template = followups.template_create(
        clinic=clinic, name="术后", steps=[step("提醒", 1, Action.MESSAGE, message="x")]
    )
    version = template.current_version
    steps = version.steps
    steps[0]["message"] = "{name}您好，请于{date}来{clinic}找{doctor}，{unknown}不变。"
    CarePlanTemplateVersion.objects.filter(pk=version.pk).update(steps=steps)
    migration = importlib.import_module("followups.migrations.0004_chinese_placeholders")
    migration.forwards(apps, None)
    version.refresh_from_db()
    assert (
        version.steps[0]["message"] == "{姓名}您好，请于{复诊日期}来{诊所}找{医生}，{unknown}不变。"
    )
