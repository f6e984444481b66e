"""Channel quality per code (issue 16): patients who arrived through each channel code in the
period and their 90-day revisit rate, the dashboard's 复诊率 definition applied to the code's
patients; on the channel codes page, GET /api/channel-figures/ and the dashboard's card."""

from datetime import timedelta

import pytest
from django.utils import timezone

from patients.models import Visit
from tests.conftest import login, make_staff, screenshot
from wechat.models import ChannelCode, ChannelCodeKind, ContactArrival
from wechat.selectors import channel_code_figures

URL = "/api/channel-figures/"


def code(clinic, name, state, **kwargs):
    return ChannelCode.objects.create(clinic=clinic, name=name, state=state, **kwargs)


def arrived(patient, channel_code, days_ago, userid="wx-assistant"):
    return ContactArrival.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        channel_code=channel_code,
        staff_userid=userid,
        arrived_at=timezone.now() - timedelta(days=days_ago),
    )


def visits(patient, *days_ago):
    today = timezone.localdate()
    for n, days in enumerate(days_ago):
        Visit.objects.create(
            clinic_id=patient.clinic_id,
            patient=patient,
            visit_date=today - timedelta(days=days),
            kind=Visit.Kind.FIRST if n == 0 else Visit.Kind.REVISIT,
        )


@pytest.fixture
def codes(clinic, other_clinic, make_patient):
    """海报: three patients with a first visit 200 days ago, one back 30 days later (within
    90), one back 120 days later (not within), one never; one of them arrived twice (to two
    staff members) through it. 公众号: one back within 90 days, one arrived without a visit.
    Another clinic's code with a revisiting patient, and a referral code, are left out."""
    poster = code(clinic, "门诊海报", "poster")
    account = code(clinic, "公众号菜单", "account")
    code(clinic, "转介绍码", "ref-1", kind=ChannelCodeKind.REFERRAL)
    back, late, never = make_patient(name="回来"), make_patient(name="晚回"), make_patient()
    for patient in (back, late, never):
        arrived(patient, poster, 200)
    arrived(back, poster, 190, userid="wx-doctor")
    visits(back, 200, 170)
    visits(late, 200, 80)
    visits(never, 200)
    quick, no_visit = make_patient(name="快回"), make_patient(name="未就诊")
    arrived(quick, account, 150)
    arrived(no_visit, account, 20)
    visits(quick, 150, 140)
    theirs = code(other_clinic, "别家海报", "poster")
    foreign = make_patient(name="别家", target_clinic=other_clinic)
    arrived(foreign, theirs, 200)
    visits(foreign, 200, 190)
    return poster, account, theirs


def last_year():
    end = timezone.localdate()
    return {"start": end - timedelta(days=364), "end": end}


@pytest.mark.django_db
def test_arrivals_and_revisit_rate_per_code_of_the_clinic_only(clinic, codes):
    poster, account, _theirs = codes
    rows = channel_code_figures(clinic=clinic, **last_year())
    assert rows == [
        {
            "id": account.pk,
            "name": "公众号菜单",
            "is_active": True,
            "arrived": 2,
            "first_visits": 1,
            "revisited": 1,
            "revisit_rate": 1.0,
        },
        {
            "id": poster.pk,
            "name": "门诊海报",
            "is_active": True,
            "arrived": 3,
            "first_visits": 3,
            "revisited": 1,
            "revisit_rate": 0.3333,
        },
    ]
    # A period that leaves out the first visits and the arrivals: nothing to divide by.
    end = timezone.localdate() - timedelta(days=250)
    empty = channel_code_figures(clinic=clinic, start=end - timedelta(days=30), end=end)
    assert [(r["arrived"], r["first_visits"], r["revisit_rate"]) for r in empty] == [
        (0, 0, None),
        (0, 0, None),
    ]
    # A longer window counts the patient back after 120 days.
    wide = channel_code_figures(clinic=clinic, window_days=150, **last_year())
    assert wide[1]["revisited"] == 2


@pytest.mark.django_db
def test_the_channel_codes_page_shows_each_codes_quality(client, doctor, nurse, codes):
    client.force_login(doctor)
    page = client.get("/wechat/channel-codes/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "复诊率（90天）" in html and "33%" in html and "100%" in html
    assert "1 / 3 位首诊" in html
    assert "别家海报" not in html
    assert 'data-testid="quality-definition"' in html
    # A nurse's view is her wards: no clinic-wide figures on her page.
    client.force_login(nurse)
    html = client.get("/wechat/channel-codes/").content.decode()
    assert "复诊率（90天）" not in html and 'data-testid="quality-definition"' not in html


@pytest.mark.django_db
def test_the_api_scoped_to_the_clinic_not_for_nurses(api, doctor, nurse, other_clinic, codes):
    period = last_year()
    query = f"?start={period['start']}&end={period['end']}"
    body = api(doctor).get(URL + query).json()
    assert body["period"] == {"start": str(period["start"]), "end": str(period["end"])}
    assert body["window_days"] == 90
    assert [(c["name"], c["arrived"], c["revisit_rate"]) for c in body["codes"]] == [
        ("公众号菜单", 2, 1.0),
        ("门诊海报", 3, 0.3333),
    ]
    # The other clinic's own staff see only their code.
    theirs = api(make_staff(other_clinic, "doctor", "their-doctor")).get(URL + query).json()
    assert [(c["name"], c["arrived"], c["revisit_rate"]) for c in theirs["codes"]] == [
        ("别家海报", 1, 1.0)
    ]
    # Doctor, tag and channel filters do not apply: ignored, not an error.
    assert api(doctor).get(URL + query + "&source=referral&doctor=999").json() == body
    assert api(nurse).get(URL).status_code == 403
    bad = api(doctor).get(URL + "?start=2026-05-01&end=2026-04-01")
    assert bad.status_code == 400 and "结束日期" in bad.content.decode()
    assert api(doctor).get(URL + "?window_days=3").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_card_lists_each_codes_revisit_rate(page, doctor, codes):
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    rows = page.get_by_test_id("channel-rows")
    rows.locator("tr").nth(1).wait_for()
    assert rows.locator("tr").nth(0).inner_text().split("\t") == [
        "公众号菜单",
        "2",
        "100.0%",
        "1 / 1 位首诊",
    ]
    assert rows.locator("tr").nth(1).inner_text().split("\t") == [
        "门诊海报",
        "3",
        "33.3%",
        "1 / 3 位首诊",
    ]
    assert "别家海报" not in rows.inner_text()
    card = page.get_by_test_id("channel-card")
    card.locator("summary").click()
    assert card.get_by_text("复诊率定义应用于该渠道码的患者").is_visible()
    card.scroll_into_view_if_needed()
    screenshot(page, "dashboard-channel-quality")


@pytest.mark.django_db(transaction=True)
def test_the_channel_codes_page_in_the_browser(page, doctor, codes, live_server):
    poster, _account, _theirs = codes
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    page.goto(f"{live_server.url}/wechat/channel-codes/")
    card = page.get_by_test_id(f"code-{poster.pk}")
    assert card.get_by_test_id("arrived").inner_text() == "3"
    assert card.get_by_test_id("revisit-rate").inner_text().startswith("33%")
    assert card.get_by_test_id("revisit-counts").inner_text() == "1 / 3 位首诊"
    page.get_by_test_id("quality-definition").locator("summary").click()
    assert page.get_by_text("在 90 天内的另一天再次就诊的比例").is_visible()
    screenshot(page, "channel-codes-quality")
