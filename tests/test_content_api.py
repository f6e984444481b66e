"""The content API: scoped to the user's clinic (outsiders get 404), roles, one error shape."""

import pytest

from content.articles import article_create, article_set_status
from content.campaigns import campaign_save, campaign_start
from content.models import Campaign, CampaignStatus
from content.surveys import survey_save
from content.templates_service import message_template_save
from crm.models import Membership
from patients.choices import TouchKind
from tests.conftest import tag
from wechat.models import ContentSettings, RedLinePhrase
from wechat.redline import content_settings_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(clinic):
    return article_create(clinic=clinic, title="失眠调理", body="规律作息。")


@pytest.fixture
def template(clinic):
    return message_template_save(clinic=clinic, name="复查", body="{姓名}，请于{复诊日期}复查")


@pytest.fixture
def campaign(clinic):
    return campaign_save(clinic=clinic, name="讲座", body="{诊所}周六讲座")


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="满意度", question="满意吗？")


def test_outsiders_get_404_for_every_content_object(
    api, outsider, article, template, campaign, survey, clinic
):
    client = api(outsider)
    phrase = (
        content_settings_for(clinic=clinic) and RedLinePhrase.objects.filter(clinic=clinic).first()
    )
    for url in (
        f"/api/articles/{article.pk}/",
        f"/api/message-templates/{template.pk}/",
        f"/api/campaigns/{campaign.pk}/",
        f"/api/campaigns/{campaign.pk}/preview/",
        f"/api/campaigns/{campaign.pk}/recipients/",
        f"/api/surveys/{survey.pk}/",
        f"/api/red-lines/{phrase.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    for url, data in (
        (f"/api/campaigns/{campaign.pk}/send/", {}),
        (f"/api/articles/{article.pk}/status/", {"status": "published"}),
        (f"/api/surveys/{survey.pk}/invite/", {"patient": 1}),
        (f"/api/message-templates/{template.pk}/preview/", {"patient": 1}),
    ):
        assert client.post(url, data, format="json").status_code == 404, url
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    # Lists show only the outsider's own clinic.
    assert client.get("/api/articles/").json()["results"] == []
    assert all(r["phrase"] for r in client.get("/api/red-lines/").json())
    assert not any(r["id"] == phrase.pk for r in client.get("/api/red-lines/").json())


def test_anonymous_gets_403(client, article):
    assert client.get("/api/articles/").status_code == 403


def test_article_crud_and_publish_with_red_line_error_shape(api, staff, clinic):
    writer, doctor = api(staff["assistant"]), api(staff["doctor"])
    created = writer.post(
        "/api/articles/",
        {
            "title": "糖尿病饮食",
            "body": "本院根治糖尿病",
            "disease_tags": [tag(clinic, "糖尿病").pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    article_id = created.json()["id"]
    refused = writer.post(f"/api/articles/{article_id}/status/", {"status": "published"})
    assert refused.status_code == 400
    blocked = doctor.post(f"/api/articles/{article_id}/status/", {"status": "published"})
    body = blocked.json()
    assert blocked.status_code == 400 and body["code"] == "invalid"
    assert "根治" in str(body["errors"]) and "医疗广告管理办法" in str(body["errors"])
    writer.patch(f"/api/articles/{article_id}/", {"body": "控制饮食，遵医嘱。"}, format="json")
    published = doctor.post(f"/api/articles/{article_id}/status/", {"status": "published"})
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert "/r/a/" in published.json()["public_link"]


def test_article_tags_of_another_clinic_are_refused(api, staff, other_clinic):
    response = api(staff["assistant"]).post(
        "/api/articles/",
        {"title": "t", "body": "b", "disease_tags": [tag(other_clinic, "糖尿病").pk]},
        format="json",
    )
    assert response.status_code == 400 and "disease_tags" in response.json()["errors"]


def test_tracked_link_for_a_patient(api, staff, article, make_patient):
    article_set_status(article=article, status="published", by=staff["doctor"])
    patient = make_patient()
    response = api(staff["assistant"]).post(
        f"/api/articles/{article.pk}/link/", {"patient": patient.pk}
    )
    assert response.status_code == 200 and "/r/a/" in response.json()["link"]


def test_template_preview_with_a_real_patient(api, staff, template, make_patient):
    patient = make_patient(name="钱七")
    client = api(staff["assistant"])
    response = client.post(
        f"/api/message-templates/{template.pk}/preview/",
        {"patient": patient.pk, "revisit_date": "2026-12-03"},
    )
    assert response.status_code == 200
    assert response.json()["text"].startswith("钱七，请于2026年12月03日复查")
    missing = client.post(f"/api/message-templates/{template.pk}/preview/", {"patient": patient.pk})
    assert missing.status_code == 400 and "{复诊日期}" in missing.json()["message"] + str(
        missing.json()["errors"]
    )


def test_template_with_unknown_variable_or_red_line_is_refused(api, staff):
    client = api(staff["assistant"])
    unknown = client.post("/api/message-templates/", {"name": "a", "body": "{姓名}{床号}"})
    assert unknown.status_code == 400 and "{床号}" in str(unknown.json()["errors"])
    red = client.post("/api/message-templates/", {"name": "b", "body": "无副作用"})
    assert red.status_code == 400 and "无副作用" in str(red.json()["errors"])


def test_red_lines_are_edited_by_admins_and_operations_only(api, staff, clinic):
    assert (
        api(staff["assistant"])
        .post("/api/red-lines/", {"phrase": "神药", "reason": "夸大"})
        .status_code
        == 403
    )
    created = api(staff["operations"]).post("/api/red-lines/", {"phrase": "神药", "reason": "夸大"})
    assert created.status_code == 201
    duplicate = api(staff["admin"]).post("/api/red-lines/", {"phrase": "神药", "reason": "x"})
    assert duplicate.status_code == 400
    check = api(staff["assistant"]).post("/api/red-lines/check/", {"text": "祖传秘方，神药"})
    assert check.status_code == 200
    assert {h["phrase"] for h in check.json()["hits"]} == {"祖传秘方", "神药"}
    assert api(staff["assistant"]).post("/api/red-lines/check/", {"text": "讲座"}).json()["ok"]


def test_content_settings_admin_only(api, staff, clinic):
    assert api(staff["doctor"]).get("/api/content-settings/").json()["per_customer_daily_cap"] == 1
    assert (
        api(staff["doctor"])
        .patch("/api/content-settings/", {"per_customer_daily_cap": 3}, format="json")
        .status_code
        == 403
    )
    response = api(staff["admin"]).patch(
        "/api/content-settings/", {"per_customer_daily_cap": 3, "emergency_notice_enabled": False}
    )
    assert response.status_code == 200
    row = ContentSettings.objects.get(clinic=clinic)
    assert row.per_customer_daily_cap == 3 and row.emergency_notice_enabled is False


def test_campaign_preview_and_send(
    api, staff, clinic, make_patient, django_capture_on_commit_callbacks
):
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="zhuli-li")
    make_patient(external_userid="wm1", assigned_assistant=staff["assistant"])
    make_patient(consent_to_contact=False)
    client = api(staff["operations"])
    created = client.post(
        "/api/campaigns/",
        {"name": "讲座", "body": "{诊所}周六讲座", "segment": {"stage": ["lead"]}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    preview = client.get(f"/api/campaigns/{campaign_id}/preview/").json()
    assert (preview["total"], preview["included"], preview["excluded"]) == (2, 1, 1)
    reasons = {r["reason"]: r["label"] for r in preview["reasons"]}
    assert list(reasons) == ["no_consent"]
    ad_hoc = client.post("/api/campaigns/preview/", {"segment": {"stage": ["churned"]}},
                         format="json")  # fmt: skip
    assert ad_hoc.json()["total"] == 0
    bad = client.post("/api/campaigns/preview/", {"segment": {"stage": ["x"]}}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    with django_capture_on_commit_callbacks() as callbacks:
        sent = client.post(f"/api/campaigns/{campaign_id}/send/", {}, format="json")
    assert sent.status_code == 200 and sent.json()["status"] == "scheduled"
    assert len(callbacks) == 1  # the start task, after commit
    again = client.post(f"/api/campaigns/{campaign_id}/send/", {}, format="json")
    assert again.status_code == 400
    campaign_start(campaign_id=campaign_id)
    rows = client.get(f"/api/campaigns/{campaign_id}/recipients/").json()["results"]
    assert sorted((r["included"], r["reason"]) for r in rows) == [(False, "no_consent"), (True, "")]
    results = client.get(f"/api/campaigns/{campaign_id}/results/").json()
    assert results["included"] == 1 and results["excluded"] == 1


def test_nurse_cannot_send_campaigns(api, staff, campaign):
    response = api(staff["nurse"]).post(f"/api/campaigns/{campaign.pk}/send/", {})
    assert response.status_code == 403


def test_survey_invite_by_hand_returns_the_link_once(api, staff, survey, make_patient):
    patient = make_patient()
    client = api(staff["assistant"])
    response = client.post(f"/api/surveys/{survey.pk}/invite/", {"patient": patient.pk})
    assert response.status_code == 201 and "/r/s/" in response.json()["link"]
    listed = client.get(f"/api/surveys/{survey.pk}/invitations/").json()["results"]
    assert listed[0]["link"] is None and listed[0]["patient"] == patient.pk
    assert patient.touches.filter(kind=TouchKind.SURVEY).count() == 1
    assert client.get(f"/api/surveys/{survey.pk}/").json()["summary"]["sent"] == 1


def test_referrals_endpoint(api, staff, make_patient):
    a = make_patient(name="甲", assigned_doctor=staff["doctor"])
    make_patient(name="乙", referred_by=a)
    data = api(staff["doctor"]).get("/api/referrals/").json()
    assert data["patients"] == [{"patient": a.pk, "name": "甲", "referrals": 1}]
    assert data["doctors"] == [{"doctor_id": staff["doctor"].pk, "referrals": 1, "referrers": 1}]
