"""Doctor IP through the API: who sees which doctor, positioning versions, the red-line check
on scripts, follower CSV imports, onboarding with the licence photo, and the watch list."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from doctors import services
from doctors.models import FollowerCount, Onboarding, Post, PostFormat
from patients.choices import TouchKind
from patients.timeline import touch_record
from tests.conftest import make_staff
from wechat.models import RedLinePhrase

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_doctors(clinic, staff):
    other = make_staff(clinic, "doctor", "a-doctor2")
    services.doctor_profiles_sync(clinic=clinic)
    mine = clinic.doctor_profiles.get(user=staff["doctor"])
    theirs = clinic.doctor_profiles.get(user=other)
    account = services.account_save(doctor=theirs, platform="douyin", name="李医生说甲状腺")
    return mine, theirs, account


def test_a_doctor_sees_only_their_own_profile_posts_and_funnel(api, staff, two_doctors):
    mine, theirs, account = two_doctors
    services.post_save(
        clinic=mine.clinic, account=account, topic="他人的帖子", format=PostFormat.ARTICLE
    )
    client = api(staff["doctor"])
    assert [row["id"] for row in client.get("/api/doctors/").json()["results"]] == [mine.pk]
    assert client.get(f"/api/doctors/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/doctors/{theirs.pk}/", {"strengths": "x"}).status_code == 404
    assert client.get("/api/doctor-posts/").json()["results"] == []
    assert client.get(f"/api/doctor-accounts/{account.pk}/").status_code == 404
    assert client.get("/api/doctor-funnel/", {"doctor": theirs.pk}).status_code == 404
    own = client.get("/api/doctor-funnel/", {"doctor": mine.pk})
    assert own.status_code == 200 and [d["id"] for d in own.json()["doctors"]] == [mine.pk]
    everyone = client.get("/api/doctor-funnel/").json()
    assert [d["id"] for d in everyone["doctors"]] == [mine.pk]
    # Onboarding is for operations and admins.
    assert client.get("/api/doctor-onboardings/").status_code == 403


@pytest.mark.parametrize("role", ["operations", "admin"])
def test_operations_and_admins_see_every_doctor_of_the_clinic(api, staff, two_doctors, role):
    mine, theirs, _account = two_doctors
    client = api(staff[role])
    ids = {row["id"] for row in client.get("/api/doctors/").json()["results"]}
    assert ids == {mine.pk, theirs.pk}
    funnel = client.get("/api/doctor-funnel/").json()
    assert {d["id"] for d in funnel["doctors"]} == {mine.pk, theirs.pk}


def test_assistants_nurses_and_other_clinics_see_no_doctor(api, staff, outsider, two_doctors):
    mine, _theirs, account = two_doctors
    for user in (staff["assistant"], staff["nurse"]):
        assert api(user).get("/api/doctors/").status_code == 403
    client = api(outsider)  # an assistant of clinic B
    assert client.get(f"/api/doctors/{mine.pk}/").status_code in (403, 404)
    b_ops = make_staff(outsider.memberships.get().clinic, "operations", "b-ops")
    b_client = api(b_ops)
    assert b_client.get(f"/api/doctors/{mine.pk}/").status_code == 404
    assert b_client.get(f"/api/doctor-accounts/{account.pk}/").status_code == 404
    assert b_client.get("/api/doctor-funnel/", {"doctor": mine.pk}).status_code == 404
    assert b_client.get("/api/doctors/").json()["results"] == []


def test_pages_follow_the_same_rules(client, staff, two_doctors):
    mine, theirs, _account = two_doctors
    client.force_login(staff["doctor"])
    assert client.get("/doctors/").url == f"/doctors/{mine.pk}/"
    assert client.get(f"/doctors/{mine.pk}/funnel/").status_code == 200
    assert client.get(f"/doctors/{theirs.pk}/").status_code == 404
    assert client.get(f"/doctors/{theirs.pk}/funnel/").status_code == 404
    assert client.get("/doctors/onboarding/").status_code == 403
    saved = client.post(
        f"/doctors/{mine.pk}/",
        {
            "strengths": "甲状腺",
            "interests": "",
            "personality": "",
            "patient_needs": "",
            "resources": "",
            "tags": "甲状腺，耐心",
        },
    )
    assert saved.status_code == 302 and mine.versions.get().tags == ["甲状腺", "耐心"]
    client.force_login(staff["operations"])
    page = client.get("/doctors/")
    assert page.status_code == 200 and page.content.decode().count('data-testid="doctor-card"') == 2
    for url in ("/doctors/calendar/", "/doctors/onboarding/", f"/doctors/{theirs.pk}/"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/doctors/{theirs.pk}/funnel/").status_code == 200
    client.force_login(staff["nurse"])
    assert client.get("/doctors/").status_code == 403


def test_a_doctor_edits_their_positioning_and_each_edit_is_a_version(api, staff, two_doctors):
    mine, _theirs, _account = two_doctors
    client = api(staff["doctor"])
    first = client.patch(
        f"/api/doctors/{mine.pk}/", {"strengths": "甲状腺结节", "tags": ["甲状腺", "耐心"]}
    )
    assert first.status_code == 200 and first.json()["strengths"] == "甲状腺结节"
    api(staff["operations"]).patch(f"/api/doctors/{mine.pk}/", {"personality": "直白"})
    versions = client.get(f"/api/doctors/{mine.pk}/versions/").json()
    assert [(v["number"], v["by"]) for v in versions] == [
        (2, staff["operations"].pk),
        (1, staff["doctor"].pk),
    ]
    assert versions[0]["strengths"] == "甲状腺结节" and versions[0]["personality"] == "直白"
    assert versions[1]["personality"] == "" and versions[1]["tags"] == ["甲状腺", "耐心"]


def test_a_script_with_a_red_line_phrase_is_blocked_with_the_reason(api, staff, two_doctors):
    _mine, _theirs, account = two_doctors
    client = api(staff["operations"])
    response = client.post(
        "/api/doctor-posts/",
        {
            "account": account.pk,
            "topic": "甲状腺结节",
            "format": "short_video",
            "script": "我们的方法可以根治甲状腺结节。",
        },
    )
    assert response.status_code == 400
    [message] = response.json()["errors"]["script"]
    reason = RedLinePhrase.objects.get(clinic=account.clinic, phrase="根治").reason
    assert "根治" in message and reason and reason in message
    assert not Post.objects.exists()
    ok = client.post(
        "/api/doctor-posts/",
        {"account": account.pk, "topic": "甲状腺结节", "format": "short_video", "script": "科普"},
    )
    assert ok.status_code == 201 and ok.json()["status"] == "idea"
    changed = client.patch(f"/api/doctor-posts/{ok.json()['id']}/", {"script": "保证根治"})
    assert changed.status_code == 400 and Post.objects.get().script == "科普"
    kept = client.delete(f"/api/doctor-accounts/{account.pk}/")
    assert kept.status_code == 400 and kept.json()["message"]


def test_publishing_needs_a_date_and_a_code_needs_publishing(api, staff, two_doctors):
    _mine, _theirs, account = two_doctors
    client = api(staff["operations"])
    made = client.post(
        "/api/doctor-posts/",
        {"account": account.pk, "topic": "t", "format": "article", "status": "published"},
    )
    assert made.status_code == 400 and "publish_date" in made.json()["errors"]
    post = services.post_save(
        clinic=account.clinic, account=account, topic="t", format=PostFormat.ARTICLE
    )
    early = client.post(f"/api/doctor-posts/{post.pk}/channel-code/")
    assert early.status_code == 400 and early.json()["message"]
    published = client.post(f"/api/doctor-posts/{post.pk}/publish/")
    assert published.json()["status"] == "published"
    assert published.json()["publish_date"] == timezone.localdate().isoformat()


def test_follower_counts_by_hand_and_from_a_csv_all_or_nothing(api, staff, two_doctors):
    _mine, _theirs, account = two_doctors
    client = api(staff["operations"])
    url = f"/api/doctor-accounts/{account.pk}/"
    assert (
        client.post(url + "followers/", {"date": "2026-06-01", "followers": 100}).status_code == 200
    )
    bad = "日期,粉丝数\n2026-06-02,120\n2026/13/40,130\n2026-06-04,很多\n2026-06-02,1\n"
    response = client.post(
        url + "import-followers/",
        {"file": SimpleUploadedFile("f.csv", bad.encode("utf-8"))},
        format="multipart",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]["non_field_errors"]
    assert any("3" in e and "2026/13/40" in e for e in errors)
    assert any("4" in e and "很多" in e for e in errors)
    assert any("5" in e for e in errors)
    assert list(FollowerCount.objects.values_list("followers", flat=True)) == [100]
    good = 'date,followers\n2026-06-01,110\n2026-06-02,"1,200"\n'
    response = client.post(
        url + "import-followers/",
        {"file": SimpleUploadedFile("f.csv", good.encode("gb18030"))},
        format="multipart",
    )
    assert response.json() == {"imported": 2}
    assert [c["followers"] for c in client.get(url + "followers/").json()] == [110, 1200]
    empty = client.post(
        url + "import-followers/",
        {"file": SimpleUploadedFile("f.csv", b"a,b\n1,2\n")},
        format="multipart",
    )
    assert empty.status_code == 400


def test_onboarding_with_licence_photo_registry_check_and_army_flag(
    api, client, staff, two_doctors, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    mine, theirs, _account = two_doctors
    ops = api(staff["operations"])
    refused = ops.post(
        "/api/doctor-onboardings/",
        {
            "profile": mine.pk,
            "recruitment_source": "conference",
            "licence_file": SimpleUploadedFile("licence.exe", b"MZ"),
            "registry_checked_by": "赵运营",
        },
        format="multipart",
    )
    assert refused.status_code == 400
    assert {"licence_file", "registry_checked_by"} <= set(refused.json()["errors"])
    disguised = ops.post(
        "/api/doctor-onboardings/",
        {
            "profile": mine.pk,
            "recruitment_source": "conference",
            "licence_file": SimpleUploadedFile("licence.jpg", b"MZ not a photo"),
        },
        format="multipart",
    )
    assert disguised.status_code == 400 and "licence_file" in disguised.json()["errors"]
    made = ops.post(
        "/api/doctor-onboardings/",
        {
            "profile": mine.pk,
            "recruitment_source": "colleague",
            "licence_file": SimpleUploadedFile("执业证.jpg", b"\xff\xd8\xffjpeg"),
            "registry_checked_by": "赵运营",
            "registry_checked_on": "2026-11-20",
        },
        format="multipart",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["verified"] and not made.json()["trained"]
    onboarding = Onboarding.objects.get(profile=mine)
    assert onboarding.licence_file.path.startswith(str(tmp_path))
    army = ops.post(
        "/api/doctor-onboardings/",
        {"profile": theirs.pk, "recruitment_source": "visit", "army_hospital": True},
    )
    assert army.status_code == 201 and not army.json()["verified"]  # no licence photo yet
    both = ops.patch(
        f"/api/doctor-onboardings/{army.json()['id']}/",
        {"registry_checked_by": "赵运营", "registry_checked_on": "2026-11-20"},
    )
    assert both.status_code == 400 and "army_hospital" in both.json()["errors"]
    client.force_login(staff["operations"])
    photo = client.get(f"/doctors/onboarding/{onboarding.pk}/licence/")
    assert photo.status_code == 200 and b"".join(photo.streaming_content) == b"\xff\xd8\xffjpeg"
    client.force_login(staff["doctor"])
    assert client.get(f"/doctors/onboarding/{onboarding.pk}/licence/").status_code == 403


def test_the_watch_list_shows_new_doctors_patients_follow_ups_and_response_time(
    api, staff, two_doctors, make_patient
):
    mine, theirs, _account = two_doctors
    today = timezone.localdate()
    services.onboarding_save(
        profile=mine, recruitment_source="conference", started_on=today - timedelta(days=3)
    )
    services.onboarding_save(
        profile=theirs, recruitment_source="visit", started_on=date(2020, 1, 1)
    )  # long past its two weeks
    now = timezone.now()
    answered = make_patient(name="甲", assigned_doctor=staff["doctor"], at=now - timedelta(hours=5))
    make_patient(name="乙", assigned_doctor=staff["doctor"], at=now - timedelta(hours=1))
    touch_record(
        patient=answered,
        kind=TouchKind.FOLLOWUP,
        summary="术后随访",
        actor=staff["doctor"],
        occurred_at=now - timedelta(hours=3),
    )
    [row] = api(staff["operations"]).get("/api/doctor-onboardings/watch-list/").json()
    assert row["profile"] == mine.pk and row["day"] == 4
    assert (row["patients"], row["followups_done"], row["unanswered"]) == (2, 1, 1)
    assert row["mean_response_hours"] == 2.0


def test_the_calendar_post_sent_twice_with_its_key_is_one_post(api, staff, two_doctors):
    """A double click on the calendar's form sends the same Idempotency-Key twice."""
    from doctors.models import Post

    _mine, _theirs, account = two_doctors
    client = api(staff["operations"])
    url = "/api/doctor-posts/"
    body = {"account": account.pk, "topic": "术后复查", "format": PostFormat.ARTICLE}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="form-1")
    second = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="form-1")
    assert first.status_code == 201, first.json()
    assert second.json()["id"] == first.json()["id"]
    assert Post.objects.filter(topic="术后复查").count() == 1
    third = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="form-2")
    assert third.status_code == 201
    assert Post.objects.filter(topic="术后复查").count() == 2
