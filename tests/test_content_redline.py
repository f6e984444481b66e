"""The red-line check, templates and the emergency notice."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from content.models import MessageTemplate
from content.templates_service import message_template_save
from content.templating import render
from wechat.models import ContentSettings, RedLinePhrase
from wechat.redline import (
    content_settings_for,
    emergency_notice_append,
    redline_check,
    redline_ensure,
    redline_phrase_save,
)

pytestmark = pytest.mark.django_db


def test_every_clinic_gets_the_default_red_lines_once(clinic, other_clinic):
    # Its set-up (conftest's make_clinic: clinic_setup_defaults) made them; again changes nothing.
    content_settings_for(clinic=clinic)
    content_settings_for(clinic=clinic)
    phrases = set(RedLinePhrase.objects.filter(clinic=clinic).values_list("phrase", flat=True))
    assert {"根治", "包治", "治愈率", "100%有效", "无副作用", "最好的医院"} <= phrases
    assert RedLinePhrase.objects.filter(clinic=clinic, phrase="包治").count() == 1
    # Each clinic has its own rows, which it edits alone.
    assert RedLinePhrase.objects.filter(clinic=other_clinic, phrase="包治").count() == 1
    RedLinePhrase.objects.filter(clinic=other_clinic, phrase="包治").delete()
    assert RedLinePhrase.objects.filter(clinic=clinic, phrase="包治").count() == 1


def test_text_with_baozhi_is_blocked_and_says_why(clinic):
    text = "本院专家包治甲状腺结节，欢迎咨询。"
    hits = redline_check(clinic=clinic, text=text)
    assert [(h.phrase, h.reason) for h in hits] == [("包治", "承诺疗效，违反《医疗广告管理办法》")]
    with pytest.raises(ValidationError) as error:
        redline_ensure(clinic=clinic, text=text)
    message = error.value.message_dict["body"][0]
    assert "包治" in message and "医疗广告管理办法" in message


def test_the_same_text_without_the_phrase_goes_through(clinic):
    text = "本院专家诊治甲状腺结节，欢迎咨询。"
    assert redline_check(clinic=clinic, text=text) == []
    redline_ensure(clinic=clinic, text=text)


def test_full_width_and_spaced_variants_are_caught(clinic):
    hits = redline_check(clinic=clinic, text="疗效１００％ 有效，包 治百病")
    assert {h.phrase for h in hits} == {"100%有效", "包治"}


def test_a_clinic_edits_its_own_list(clinic, other_clinic):
    redline_phrase_save(clinic=clinic, phrase="神药", reason="夸大疗效")
    assert redline_check(clinic=clinic, text="这是神药")[0].reason == "夸大疗效"
    assert redline_check(clinic=other_clinic, text="这是神药") == []
    row = RedLinePhrase.objects.get(clinic=clinic, phrase="根治")
    redline_phrase_save(
        clinic=clinic, phrase="根治", reason=row.reason, is_active=False, instance=row
    )
    assert redline_check(clinic=clinic, text="根治") == []
    with pytest.raises(ValidationError):
        redline_phrase_save(clinic=clinic, phrase="神药", reason="重复")


def test_emergency_notice_is_appended_once_where_the_clinic_wants_it(clinic):
    text = emergency_notice_append(clinic=clinic, text="复查提醒")
    assert text.endswith("急症请立即就医或拨打120。")
    assert emergency_notice_append(clinic=clinic, text=text) == text
    ContentSettings.objects.filter(clinic=clinic).update(emergency_notice_enabled=False)
    assert emergency_notice_append(clinic=clinic, text="复查提醒") == "复查提醒"


def test_render_fills_the_variables_for_a_real_patient(clinic, doctor, make_patient):
    patient = make_patient(name="王小明", assigned_doctor=doctor)
    text = render(
        template_text="{姓名}您好，{医生}提醒您{复诊日期}来{诊所}复查。",
        patient=patient,
        extra={"复诊日期": datetime.date(2026, 12, 3)},
    )
    assert text == f"王小明您好，{doctor.username}提醒您2026年12月03日来甲诊所复查。"


def test_unknown_variable_is_an_error_naming_it(clinic, make_patient):
    patient = make_patient()
    with pytest.raises(ValidationError) as error:
        render(template_text="{姓名}，您的{病历号}", patient=patient)
    assert "{病历号}" in error.value.message_dict["template_text"][0]


def test_missing_value_is_an_error_naming_the_variable(clinic, make_patient):
    patient = make_patient(name="李四")
    with pytest.raises(ValidationError) as error:
        render(template_text="{姓名}，请于{复诊日期}复诊，{医生}", patient=patient)
    message = error.value.message_dict["template_text"][0]
    assert "{复诊日期}" in message and "{医生}" in message and "李四" in message


def test_template_with_a_red_line_phrase_cannot_be_saved(clinic):
    with pytest.raises(ValidationError) as error:
        message_template_save(clinic=clinic, name="推广", body="{姓名}，根治颈椎病")
    assert "根治" in error.value.message_dict["body"][0]
    assert not MessageTemplate.objects.exists()
    saved = message_template_save(clinic=clinic, name="推广", body="{姓名}，颈椎病讲座")
    assert saved.pk and saved.clinic == clinic


def test_doctor_without_a_display_name_is_named_by_login(clinic, make_patient):
    from crm.services import staff_create
    from tests.conftest import PASSWORD

    bare = staff_create(clinic=clinic, username="dr-bare", password=PASSWORD, role="doctor").user
    patient = make_patient(assigned_doctor=bare)
    assert render(template_text="{医生}提醒您", patient=patient) == "dr-bare提醒您"
