"""Retention figures against one small fixed dataset; every expected value was worked out by
hand from the table below (period Q1 2026 = 2026-01-01 … 2026-03-31, Asia/Shanghai).

patient  created (+08)      source    referrer doctor tags          visits (amount)                       stage path / events
P1 甲    2025-12-20         walk_in   -        yes    糖尿病 高血压 01-10 (200), 02-15 (300)              churned 04-05; surveys
P2 乙    2026-01-05         wecom_qr  P1       -      糖尿病        01-20 (500), 06-01 (100)              lead→…→consulted, churned 03-20 + WeCom deleted 03-21
P3 丙    2026-02-01         wecom_qr  -        yes    高血压        03-01 (150), 03-01 (150), 05-30 (400) lead→converted→booked
P4 丁    2025-06-01         walk_in   -        -      -             2025-07-01 (100), 2026-01-15 (100)    churned 02-01
P5 戊    2026-03-10         referral  P1       -      -             -                                     lead
P6 己    2026-02-10         walk_in   -        -      高血压        04-02 (100)                           lead→converted; WeCom deleted 03-05
P7 庚    2026-03-31 23:30   partner   -        -      -             -                                     created at booked
P8 辛    2026-04-01 00:30   walk_in   -        -      -             -                                     lead (outside Q1 by 30 minutes)
P9 壬    2026-01-01         walk_in   -        -      高血压        -                                     lead; call 06-15

The tag filter is checked on every figure: 高血压 (P1, P3, P6, P9) and 糖尿病 (P1, P2), P1 being
counted under both (the summaries keep one set of daily rows per tag).
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from patients import services as s
from patients import timeline
from patients.choices import Stage, TouchChannel, TouchKind
from patients.dashboard import retention, retention_summaries
from patients.dashboard.summaries import summaries_refresh
from patients.models import Visit
from tests.conftest import tag

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
Q1 = {"start": date(2026, 1, 1), "end": date(2026, 3, 31)}


def at(y, m, d, h=10, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=SH)


def visit(patient, y, m, d, amount):
    s.visit_record(
        patient=patient,
        visit_date=date(y, m, d),
        kind=Visit.Kind.FIRST if not patient.visits.exists() else Visit.Kind.REVISIT,
        amount=Decimal(amount),
        at=at(y, m, d),
    )


def walk(patient, stages, when):
    for stage in stages:
        s.patient_set_stage(patient=patient, stage=stage, at=when)


def survey(patient, when, **payload):
    timeline.touch_record(
        patient=patient,
        kind=TouchKind.SURVEY,
        summary="满意度调查",
        payload=payload,
        occurred_at=when,
    )


@pytest.fixture
def data(clinic, doctor):
    def new(name, created, source="walk_in", **kw):
        return s.patient_create(clinic=clinic, name=name, at=created, source=source, **kw)

    sugar, pressure = tag(clinic, "糖尿病"), tag(clinic, "高血压")
    p = {}
    p[1] = new("甲", at(2025, 12, 20), assigned_doctor=doctor, tags=[sugar, pressure])
    p[2] = new("乙", at(2026, 1, 5), "wecom_qr", referred_by=p[1], tags=[sugar])
    p[3] = new("丙", at(2026, 2, 1), "wecom_qr", assigned_doctor=doctor, tags=[pressure])
    p[4] = new("丁", at(2025, 6, 1))
    p[5] = new("戊", at(2026, 3, 10), "referral", referred_by=p[1])
    p[6] = new("己", at(2026, 2, 10), tags=[pressure])
    p[7] = new("庚", at(2026, 3, 31, 23, 30), "partner", stage=Stage.BOOKED)
    p[8] = new("辛", at(2026, 4, 1, 0, 30))
    p[9] = new("壬", at(2026, 1, 1), tags=[pressure])
    visit(p[1], 2026, 1, 10, 200)
    visit(p[1], 2026, 2, 15, 300)
    visit(p[2], 2026, 1, 20, 500)
    visit(p[2], 2026, 6, 1, 100)
    visit(p[3], 2026, 3, 1, 150)
    visit(p[3], 2026, 3, 1, 150)
    visit(p[3], 2026, 5, 30, 400)
    visit(p[4], 2025, 7, 1, 100)
    visit(p[4], 2026, 1, 15, 100)
    visit(p[6], 2026, 4, 2, 100)
    walk(p[2], ["converted", "booked", "arrived", "consulted"], at(2026, 1, 20))
    walk(p[2], ["churned"], at(2026, 3, 20))
    walk(p[3], ["converted", "booked"], at(2026, 2, 20))
    walk(p[6], ["converted"], at(2026, 2, 20))
    walk(p[4], ["churned"], at(2026, 2, 1))
    walk(p[1], ["churned"], at(2026, 4, 5))
    for patient, when in ((p[2], at(2026, 3, 21)), (p[6], at(2026, 3, 5))):
        timeline.touch_record(
            patient=patient, kind=TouchKind.CHURN_SIGNAL, summary="删除了企业微信", occurred_at=when
        )
    timeline.touch_record(
        patient=p[9],
        kind=TouchKind.CALL,
        channel=TouchChannel.PHONE,
        summary="已接通",
        occurred_at=at(2026, 6, 15),
    )
    survey(p[1], at(2026, 1, 15), event="sent")
    survey(p[1], at(2026, 1, 16), event="answered", score=4, scale=5)
    survey(p[3], at(2026, 2, 10), event="sent")
    survey(p[3], at(2026, 2, 11), event="answered", score=9, scale=10)
    survey(p[2], at(2026, 3, 1), event="sent")
    survey(p[5], at(2026, 3, 15), event="sent")
    survey(p[6], at(2026, 3, 16), event="answered", score="very good", scale=5)
    survey(p[1], at(2026, 4, 5), event="sent")
    return p


@pytest.fixture(params=["live", "summaries"])
def figures(request, data, clinic, other_clinic):
    """Every figure is checked twice: computed live, and read from the summary tables after
    the refresh the beat job runs (the dashboard's path once a clinic has summaries)."""
    if request.param == "live":
        return retention
    for each in (clinic, other_clinic):
        summaries_refresh(clinic_id=each.pk)
    return retention_summaries


def test_revisit_rate(clinic, doctor, data, figures, django_assert_max_num_queries):
    # First visits in Q1: P1 (01-10), P2 (01-20), P3 (03-01); P4's first was 2025, P6's is 04-02.
    # P1 revisits after 36 days: yes. P2 after 132 days: no. P3: a same-day second visit
    # does not count, 05-30 is exactly 90 days after 03-01: yes. → 2 / 3.
    with django_assert_max_num_queries(1):
        figure = figures.revisit_rate(clinic=clinic, **Q1)
    assert figure == {"patients": 3, "revisited": 2, "rate": 0.6667}
    # A 30-day window: P1 (36 days) and P3 (90 days) fall out. → 0 / 3.
    assert figures.revisit_rate(clinic=clinic, window_days=30, **Q1)["revisited"] == 0
    # Doctor's patients: P1, P3 → 2 / 2. WeCom channel: P2, P3 → 1 / 2. 糖尿病: P1, P2 → 1 / 2.
    assert figures.revisit_rate(clinic=clinic, doctor=doctor, **Q1)["rate"] == 1.0
    assert figures.revisit_rate(clinic=clinic, source="wecom_qr", **Q1)["rate"] == 0.5
    sugar = tag(clinic, "糖尿病")
    assert figures.revisit_rate(clinic=clinic, tag=sugar, **Q1) == {
        "patients": 2,
        "revisited": 1,
        "rate": 0.5,
    }
    # 高血压: P1 (yes) and P3 (yes); P6's first visit is 04-02. → 2 / 2; 30 days: 0 / 2.
    pressure = tag(clinic, "高血压")
    with django_assert_max_num_queries(1):
        figure = figures.revisit_rate(clinic=clinic, tag=pressure, **Q1)
    assert figure == {"patients": 2, "revisited": 2, "rate": 1.0}
    assert figures.revisit_rate(clinic=clinic, tag=pressure, window_days=30, **Q1)["rate"] == 0.0
    # With the channel too: 高血压 and walk_in is P1 alone → 1 / 1.
    assert (
        figures.revisit_rate(clinic=clinic, tag=pressure, source="walk_in", **Q1)["patients"] == 1
    )


def test_churn_counts_a_patient_once(clinic, data, figures):
    # In Q1: P4 to churned (02-01), P6 deleted WeCom (03-05), P2 both (03-20, 03-21).
    # P1 churned 04-05: outside. → 3 patients, 2 by stage (P2, P4), 2 deleted WeCom (P2, P6).
    assert figures.churn(clinic=clinic, **Q1) == {
        "patients": 3,
        "by_stage": 2,
        "deleted_wecom": 2,
    }
    assert figures.churn(clinic=clinic, start=date(2026, 4, 1), end=date(2026, 4, 30)) == {
        "patients": 1,
        "by_stage": 1,
        "deleted_wecom": 0,
    }
    # 糖尿病 (P1, P2): P2 both ways. 高血压 (P1, P3, P6, P9): P6 deleted WeCom; in April P1.
    sugar, pressure = tag(clinic, "糖尿病"), tag(clinic, "高血压")
    assert figures.churn(clinic=clinic, tag=sugar, **Q1) == {
        "patients": 1,
        "by_stage": 1,
        "deleted_wecom": 1,
    }
    assert figures.churn(clinic=clinic, tag=pressure, **Q1) == {
        "patients": 1,
        "by_stage": 0,
        "deleted_wecom": 1,
    }
    april = {"start": date(2026, 4, 1), "end": date(2026, 4, 30)}
    assert figures.churn(clinic=clinic, tag=pressure, **april)["by_stage"] == 1
    assert figures.churn(clinic=clinic, tag=pressure, source="wecom_qr", **Q1)["patients"] == 0


def test_at_risk(clinic, data, figures):
    # As of 2026-07-01 with 60 days (cutoff 05-02): P1, P2, P4 are churned; P3 visited 05-30;
    # P9 had a call 06-15. Left: P5 (last touch 03-10), P7 (03-31 23:30), P8 (04-01 00:30),
    # P6 (visit 04-02), longest silence first.
    figure = figures.at_risk(clinic=clinic, days=60, today=date(2026, 7, 1))
    assert figure["patients"] == 4
    assert [row["name"] for row in figure["list"]] == ["戊", "庚", "辛", "己"]
    # With 20 days (cutoff 06-11) P3 (visit 05-30) joins; P9 (call 06-15) still does not.
    names = [
        r["name"] for r in figures.at_risk(clinic=clinic, days=20, today=date(2026, 7, 1))["list"]
    ]
    assert "丙" in names and "壬" not in names and len(names) == 5
    # 高血压 (P1 churned, P3, P6, P9): with 60 days P6 alone (visit 04-02); with 20 days P3
    # (05-30) too, after P6 (last touch 04-02); P9 (call 06-15) never.
    pressure = tag(clinic, "高血压")
    risk = figures.at_risk(clinic=clinic, days=60, today=date(2026, 7, 1), tag=pressure)
    assert (risk["patients"], [row["name"] for row in risk["list"]]) == (1, ["己"])
    risk = figures.at_risk(clinic=clinic, days=20, today=date(2026, 7, 1), tag=pressure)
    assert (risk["patients"], [row["name"] for row in risk["list"]]) == (2, ["己", "丙"])
    risk = figures.at_risk(clinic=clinic, days=20, today=date(2026, 7, 1), tag=pressure, limit=1)
    assert (risk["patients"], len(risk["list"])) == (2, 1)
    # 糖尿病 (P1, P2): both churned.
    sugar = tag(clinic, "糖尿病")
    assert figures.at_risk(clinic=clinic, days=20, today=date(2026, 7, 1), tag=sugar) == {
        "days": 20,
        "patients": 0,
        "list": [],
    }


def test_referral_rate(clinic, data, figures):
    # Created in Q1: P2, P3, P5, P6, P7 (03-31 23:30 +08), P9; not P8 (04-01 00:30 +08).
    # Referred: P2, P5, both by P1. → 2 / 6.
    figure = figures.referral_rate(clinic=clinic, **Q1)
    assert (figure["new_patients"], figure["referred"], figure["rate"]) == (6, 2, 0.3333)
    assert figure["top_referrers"] == [{"id": data[1].pk, "name": "甲", "referrals": 2}]
    # 糖尿病: created in Q1 P2 only, referred by P1 → 1 / 1. 高血压: P3, P6, P9, none referred.
    figure = figures.referral_rate(clinic=clinic, tag=tag(clinic, "糖尿病"), **Q1)
    assert (figure["new_patients"], figure["referred"], figure["rate"]) == (1, 1, 1.0)
    assert figure["top_referrers"] == [{"id": data[1].pk, "name": "甲", "referrals": 1}]
    assert figures.referral_rate(clinic=clinic, tag=tag(clinic, "高血压"), **Q1) == {
        "new_patients": 3,
        "referred": 0,
        "rate": 0.0,
        "top_referrers": [],
    }


def test_source_channels(clinic, data, figures):
    # New in Q1 by source: walk_in P6, P9 = 2; wecom_qr P2, P3 = 2; partner P7; referral P5.
    # Revisit cohort (first visit in Q1) by source: walk_in P1 (yes); wecom_qr P2 (no), P3 (yes).
    rows = {r["source"]: r for r in figures.source_channels(clinic=clinic, **Q1)}
    assert list(rows) == ["walk_in", "wecom_qr", "partner", "referral"]
    assert rows["walk_in"] == {
        "source": "walk_in",
        "new_patients": 2,
        "first_visits": 1,
        "revisited": 1,
        "revisit_rate": 1.0,
    }
    assert (rows["wecom_qr"]["new_patients"], rows["wecom_qr"]["revisit_rate"]) == (2, 0.5)
    assert rows["referral"]["revisit_rate"] is None
    # 高血压: new walk_in P6, P9 and wecom_qr P3; first visits walk_in P1, wecom_qr P3, both
    # revisited within 90 days.
    pressure = tag(clinic, "高血压")
    columns = ("source", "new_patients", "first_visits", "revisited", "revisit_rate")
    rows = figures.source_channels(clinic=clinic, tag=pressure, **Q1)
    assert [tuple(row[c] for c in columns) for row in rows] == [
        ("walk_in", 2, 1, 1, 1.0),
        ("wecom_qr", 1, 1, 1, 1.0),
    ]
    # 糖尿病 (P1, P2): sent P1, P2; answered P1 (4.0). → 1 / 2.
    assert figures.satisfaction(clinic=clinic, tag=tag(clinic, "糖尿病"), **Q1) == {
        "sent": 2,
        "answered": 1,
        "mean_score": 4.0,
        "response_rate": 0.5,
    }
    # No surveys in 2025: nothing to show, and no division by zero.
    assert figures.satisfaction(clinic=clinic, start=date(2025, 1, 1), end=date(2025, 12, 1)) == {
        "sent": 0,
        "answered": 0,
        "mean_score": None,
        "response_rate": None,
    }


def test_satisfaction(clinic, doctor, data, figures):
    # Q1: sent P1, P3, P2, P5 = 4; answered P1 (4/5 = 4.0), P3 (9/10 = 4.5), P6 (a text score,
    # answered but not scorable) = 3. Mean (4.0 + 4.5) / 2 = 4.25; response 3 / 4.
    assert figures.satisfaction(clinic=clinic, **Q1) == {
        "sent": 4,
        "answered": 3,
        "mean_score": 4.25,
        "response_rate": 0.75,
    }
    # By channel: wecom_qr is P2 (sent) and P3 (sent, 9/10 = 4.5); walk_in P1 (sent, 4/5) and
    # P6 (answered, not scorable); answers are counted in the period whenever the survey was sent.
    assert figures.satisfaction(clinic=clinic, source="wecom_qr", **Q1) == {
        "sent": 2,
        "answered": 1,
        "mean_score": 4.5,
        "response_rate": 0.5,
    }
    assert figures.satisfaction(clinic=clinic, source="walk_in", **Q1) == {
        "sent": 1,
        "answered": 2,
        "mean_score": 4.0,
        "response_rate": 2.0,
    }
    # The doctor's patients (P1, P3): the live query on both paths.
    assert figures.satisfaction(clinic=clinic, doctor=doctor, **Q1) == {
        "sent": 2,
        "answered": 2,
        "mean_score": 4.25,
        "response_rate": 1.0,
    }


def test_journey_funnel(clinic, data, figures, django_assert_max_num_queries):
    # Cohort created in Q1: P2, P3, P5, P6, P7, P9. Reached (transitions): lead P2 P3 P5 P6 P9;
    # converted P2 P3 P6; booked P2 P3 P7; arrived P2; consulted P2.
    # lead→converted 3/5; converted→booked 2/3 (P2, P3); booked→arrived 1/3; arrived→consulted
    # 1/1; consulted→dispensed 0/1; later stages nobody reached. Now: lead P5 P9, converted P6,
    # booked P3 P7, churned P2.
    with django_assert_max_num_queries(1):
        stages = {r["stage"]: r for r in figures.journey_funnel(clinic=clinic, **Q1)["stages"]}
    assert [
        stages[s]["reached"] for s in ("lead", "converted", "booked", "arrived", "consulted")
    ] == [
        5,
        3,
        3,
        1,
        1,
    ]
    assert [
        stages[s]["to_next"] for s in ("lead", "converted", "booked", "arrived", "consulted")
    ] == [
        0.6,
        0.6667,
        0.3333,
        1.0,
        0.0,
    ]
    assert stages["dispensed"]["to_next"] is None
    assert {k: v["now"] for k, v in stages.items() if v["now"]} == {
        "lead": 2,
        "converted": 1,
        "booked": 2,
        "churned": 1,
    }
    assert "to_next" not in stages["maintained"] and "reached" not in stages["churned"]
    # 高血压, created in Q1: P3 (lead→converted→booked), P6 (lead→converted), P9 (lead).
    # lead→converted 2/3, converted→booked 1/2, booked→arrived 0/1, then nobody reached.
    pressure = tag(clinic, "高血压")
    with django_assert_max_num_queries(1):
        funnel = figures.journey_funnel(clinic=clinic, tag=pressure, **Q1)
    stages = {r["stage"]: r for r in funnel["stages"]}
    names = ("lead", "converted", "booked", "arrived")
    assert [stages[s]["reached"] for s in names] == [3, 2, 1, 0]
    assert [stages[s]["to_next"] for s in names] == [0.6667, 0.5, 0.0, None]
    assert {k: v["now"] for k, v in stages.items() if v["now"]} == {
        "lead": 1,
        "converted": 1,
        "booked": 1,
    }


def test_cohort_retention(clinic, data, figures, django_assert_max_num_queries):
    # First visits in Q1: January cohort P1 (01-10, 02-15), P2 (01-20, 06-01); March cohort P3
    # (03-01, 03-01, 05-30). As of 2026-07-01: January months 0..6 = Jan 2/2, Feb 1/2 (P1),
    # Mar-May 0, Jun 1/2 (P2), Jul 0. March months 0..4 = Mar 1/1, Apr 0, May 1/1, Jun 0, Jul 0.
    # Lifetime value: January 4 visits, 200+300+500+100 = 1100 → 2 visits and 550 per patient;
    # March 3 visits, 150+150+400 = 700 → 3 visits and 700 per patient.
    with django_assert_max_num_queries(2):
        cohorts = figures.cohort_retention(clinic=clinic, today=date(2026, 7, 1), **Q1)
    assert cohorts == [
        {
            "month": "2026-01",
            "patients": 2,
            "retention": [1.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.0],
            "visits": 4,
            "amount": "1100.00",
            "visits_per_patient": 2.0,
            "amount_per_patient": "550.00",
        },
        {
            "month": "2026-03",
            "patients": 1,
            "retention": [1.0, 0.0, 1.0, 0.0, 0.0],
            "visits": 3,
            "amount": "700.00",
            "visits_per_patient": 3.0,
            "amount_per_patient": "700.00",
        },
    ]
    # 高血压: January cohort P1 alone (01-10, 02-15: 2 visits, 500); March cohort P3 as above.
    pressure = tag(clinic, "高血压")
    with django_assert_max_num_queries(2):
        cohorts = figures.cohort_retention(
            clinic=clinic, today=date(2026, 7, 1), tag=pressure, **Q1
        )
    assert cohorts[0] == {
        "month": "2026-01",
        "patients": 1,
        "retention": [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "visits": 2,
        "amount": "500.00",
        "visits_per_patient": 2.0,
        "amount_per_patient": "500.00",
    }
    assert cohorts[1]["month"] == "2026-03" and cohorts[1]["amount"] == "700.00"
    assert len(cohorts) == 2


def test_figures_ignore_another_clinic(clinic, other_clinic, data, figures):
    # The same figures for the other clinic, which has no patients, are all empty.
    assert figures.revisit_rate(clinic=other_clinic, **Q1)["patients"] == 0
    assert figures.churn(clinic=other_clinic, **Q1)["patients"] == 0
    assert figures.referral_rate(clinic=other_clinic, **Q1)["new_patients"] == 0
    assert figures.cohort_retention(clinic=other_clinic, **Q1) == []
