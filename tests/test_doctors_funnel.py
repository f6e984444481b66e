"""The sea-to-pond funnel against numbers worked out by hand: two doctors, three platforms
(Douyin for both, Xiaohongshu, Kuaishou), ten posts, June 2026."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm.models import Membership
from doctors import selectors, services
from doctors.models import PostFormat, PostStatus
from patients.choices import Source, Stage
from patients.models import Visit
from patients.services import patient_create, patient_set_stage, visit_record
from tests.conftest import make_staff
from wechat.channels import state_parse
from wechat.contacts import contact_arrive

pytestmark = pytest.mark.django_db

JUNE = (date(2026, 6, 1), date(2026, 6, 30))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def noon(month, day):
    return datetime(2026, month, day, 12, tzinfo=SHANGHAI)


@pytest.fixture
def world(clinic, staff, wecom_account, fake_wecom):
    d1_user = staff["doctor"]
    d2_user = make_staff(clinic, "doctor", "a-doctor2")
    Membership.objects.filter(user=d1_user).update(wecom_userid="wx-d1")
    Membership.objects.filter(user=d2_user).update(wecom_userid="wx-d2")
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="wx-assistant")
    d1 = services.doctor_profile_for(clinic=clinic, user=d1_user)
    d2 = services.doctor_profile_for(clinic=clinic, user=d2_user)

    def account(doctor, platform):
        return services.account_save(doctor=doctor, platform=platform, name=f"{platform}号")

    a1, a2 = account(d1, "douyin"), account(d1, "xiaohongshu")
    a3, a4 = account(d2, "kuaishou"), account(d2, "douyin")
    # Followers: A1 1000 before June → 1500 at its end (500); A2 200 → 260 within June (60);
    # A3 5000 → 4900 (−100); A4 none (0). D1 = 560, D2 = −100.
    for acc, day, n in [
        (a1, date(2026, 5, 25), 1000),
        (a1, date(2026, 6, 10), 1300),
        (a1, date(2026, 6, 30), 1500),
        (a1, date(2026, 7, 5), 1800),
        (a2, date(2026, 6, 2), 200),
        (a2, date(2026, 6, 28), 260),
        (a3, date(2026, 5, 31), 5000),
        (a3, date(2026, 6, 30), 4900),
    ]:
        services.follower_count_record(account=acc, day=day, followers=n)

    posts = {}
    plan = [
        ("P1", a1, Decimal("300")),
        ("P2", a1, None),
        ("P3", a1, Decimal("100")),
        ("P4", a2, Decimal("200")),
        ("P5", a2, None),
        ("P6", a3, Decimal("500")),
        ("P7", a3, None),
        ("P8", a3, None),
        ("P9", a4, None),
        ("P10", a4, None),
    ]
    for n, (name, acc, cost) in enumerate(plan, start=1):
        post = services.post_save(
            clinic=clinic,
            account=acc,
            topic=f"{name} 甲状腺结节科普",
            format=PostFormat.SHORT_VIDEO,
            status=PostStatus.PUBLISHED,
            publish_date=date(2026, 6, n),
            cost=cost,
        )
        if name != "P10":  # P10 never gets a code
            staff_for = [Membership.objects.get(user=staff["assistant"])] if name == "P5" else None
            post = services.post_code_create(post=post, staff=staff_for)
        posts[name] = post

    def arrive(post, ext, when, userid="wx-d1"):
        patient, _welcome = contact_arrive(
            account=wecom_account,
            external_userid=ext,
            userid=userid,
            state=post.channel_code.state,
            arrived_at=when,
        )
        return patient

    P = posts
    p1 = arrive(P["P1"], "wm1", noon(6, 5))
    p2 = arrive(P["P1"], "wm2", noon(6, 6))
    p3 = arrive(P["P1"], "wm3", noon(5, 20))  # before June: not in the period
    p4 = arrive(P["P2"], "wm4", noon(6, 7))
    # p5 was referred by p1 before adding the clinic through P4: P4's patient, p1 refers.
    p5 = patient_create(
        clinic=clinic, name="转介绍", source=Source.REFERRAL, referred_by=p1, external_userid="wm5"
    )
    arrive(P["P4"], "wm5", noon(6, 12))
    p6 = arrive(P["P4"], "wm6", noon(6, 13))
    arrive(P["P5"], "wm6", noon(6, 14), userid="wx-assistant")  # p6 again, through P5
    p7 = arrive(P["P3"], "wm7", noon(6, 20))
    p8 = arrive(P["P6"], "wm8", noon(6, 3), userid="wx-d2")
    p10 = arrive(P["P6"], "wm10", noon(6, 4), userid="wx-d2")
    arrive(P["P7"], "wm11", noon(6, 10), userid="wx-d2")
    p12 = arrive(P["P9"], "wm12", noon(6, 15), userid="wx-d2")

    for patient in (p1, p3, p4, p5, p7, p8, p12):
        patient_set_stage(patient=patient, stage=Stage.BOOKED)
    for patient in (p2, p10):
        patient_set_stage(patient=patient, stage=Stage.CONVERTED)
    patient_set_stage(patient=p7, stage=Stage.CHURNED)  # booked once: still converted
    for patient, day in [
        (p1, date(2026, 6, 10)),
        (p1, date(2026, 8, 20)),  # 71 days after the first: a revisit
        (p4, date(2026, 6, 15)),
        (p4, date(2026, 10, 1)),  # 108 days: not within 90
        (p5, date(2026, 6, 20)),
        (p8, date(2026, 6, 5)),
        (p8, date(2026, 6, 25)),
        (p12, date(2026, 5, 1)),  # before p12 arrived: not brought by the post
    ]:
        visit_record(patient=patient, visit_date=day, kind=Visit.Kind.FIRST)
    return {"d1": d1, "d2": d2, "posts": posts, "p3": p3, "p6": p6}


def figures(row):
    keys = ("added", "understood", "converted", "visited", "revisited", "referring")
    return tuple(row[k] for k in keys)


def test_the_funnel_per_post_matches_the_hand_count(clinic, world):
    result = selectors.funnel(clinic=clinic, start=JUNE[0], end=JUNE[1])
    rows = {row["topic"].split()[0]: row for row in result.posts}
    # (added, understood = converted+, converted = booked+, visited, revisited ≤ 90 d, referring)
    # P1: p1 (booked, visits 6-10 + 8-20, referred p5) and p2 (converted); p3 came in May.
    assert figures(rows["P1"]) == (2, 2, 1, 1, 1, 1)
    assert rows["P1"]["cost_per_patient"] == Decimal("150.00")  # 300 / 2
    assert figures(rows["P2"]) == (1, 1, 1, 1, 0, 0)  # p4: second visit after 108 days
    assert rows["P2"]["cost_per_patient"] is None  # no cost entered
    assert figures(rows["P3"]) == (1, 1, 1, 0, 0, 0)  # p7 booked, then churned
    assert rows["P3"]["cost_per_patient"] == Decimal("100.00")
    # P4: p5 (referred by p1, arrived through P4: P4's), p6 (lead).
    assert figures(rows["P4"]) == (2, 1, 1, 1, 0, 0)
    assert rows["P4"]["cost_per_patient"] == Decimal("100.00")  # 200 / 2
    assert figures(rows["P5"]) == (1, 0, 0, 0, 0, 0)  # p6 again
    assert figures(rows["P6"]) == (2, 2, 1, 1, 1, 0)  # p8 revisited after 20 days; p10
    assert rows["P6"]["cost_per_patient"] == Decimal("250.00")
    assert figures(rows["P7"]) == (1, 0, 0, 0, 0, 0)
    assert figures(rows["P8"]) == (0, 0, 0, 0, 0, 0)
    assert figures(rows["P9"]) == (1, 1, 1, 0, 0, 0)  # p12's visit predates the arrival
    assert figures(rows["P10"]) == (0, 0, 0, 0, 0, 0) and not rows["P10"]["has_code"]
    assert len(result.posts) == 10


def test_the_funnel_per_doctor_and_platform_counts_each_patient_once(clinic, world):
    result = selectors.funnel(clinic=clinic, start=JUNE[0], end=JUNE[1])
    d1, d2 = (next(r for r in result.doctors if r["id"] == world[k].pk) for k in ("d1", "d2"))
    # D1: p1 p2 p4 p5 p6 p7 (p6 through two posts, once); converted+ all but p6;
    # booked+ p1 p4 p5 p7; visited p1 p4 p5; revisited p1; p1 referred.
    assert figures(d1) == (6, 5, 4, 3, 1, 1)
    assert d1["followers_gained"] == 560
    # Cost: P1 300 + P3 100 + P4 200 = 600 over the 5 patients of those posts (p1 p2 p7 p5 p6).
    assert (d1["cost"], d1["cost_per_patient"]) == (Decimal("600"), Decimal("120.00"))
    assert d1["trust"] == {"connect": 6, "understand": 5, "trust": 4, "act": 3, "refer": 1}
    # D2: p8 p10 p11 p12; converted+ p8 p10 p12; booked+ p8 p12; visited and revisited p8.
    assert figures(d2) == (4, 3, 2, 1, 1, 0)
    assert d2["followers_gained"] == -100
    assert d2["cost_per_patient"] == Decimal("250.00")
    platforms = {(r["doctor"], r["platform"]): r for r in result.platforms}
    d1_douyin = platforms[(world["d1"].pk, "douyin")]
    assert figures(d1_douyin) == (4, 4, 3, 2, 1, 1)  # p1 p2 p4 p7
    assert d1_douyin["followers_gained"] == 500
    assert d1_douyin["cost_per_patient"] == Decimal("133.33")  # 400 / 3 (p1 p2 p7)
    d1_xhs = platforms[(world["d1"].pk, "xiaohongshu")]
    assert figures(d1_xhs) == (2, 1, 1, 1, 0, 0) and d1_xhs["followers_gained"] == 60
    assert figures(platforms[(world["d2"].pk, "kuaishou")]) == (3, 2, 1, 1, 1, 0)
    d2_douyin = platforms[(world["d2"].pk, "douyin")]
    assert figures(d2_douyin) == (1, 1, 1, 0, 0, 0)
    assert d2_douyin["followers_gained"] == 0 and d2_douyin["cost_per_patient"] is None


def test_a_doctor_funnel_only_has_their_own_posts(clinic, world):
    from doctors.models import DoctorProfile

    result = selectors.funnel(
        clinic=clinic,
        start=JUNE[0],
        end=JUNE[1],
        profiles=DoctorProfile.objects.filter(pk=world["d2"].pk),
    )
    assert [r["id"] for r in result.doctors] == [world["d2"].pk]
    assert {r["topic"].split()[0] for r in result.posts} == {"P6", "P7", "P8", "P9", "P10"}


def test_post_patients_are_attributed_to_the_post_platform_and_doctor(world):
    p6 = world["p6"]
    assert p6.source == Source.DOCTOR_IP
    arrival = p6.wecom_arrivals.order_by("arrived_at").first()
    post = arrival.channel_code.post
    assert post == world["posts"]["P4"]
    assert post.account.platform == "xiaohongshu" and post.account.doctor == world["d1"]
    # The state carries the post itself: p-<base36 post id>.
    assert state_parse(arrival.channel_code.state) == ("p", post.pk)
