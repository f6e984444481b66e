"""Realistic demo data for `seed_demo`: Chinese names, tags, journeys, visits, timelines."""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from patients import services, timeline
from patients.choices import JOURNEY, Source, Stage, TouchChannel, TouchKind
from patients.models import PatientTag, Visit, Ward
from patients.wards import ward_save

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰玉萍红梅鑫华慧建国海燕志雪琳晨宇浩然子涵欣怡梓轩佳瑶思远嘉怡雨桐俊杰婷婷文博晓东春花秋月丹凤淑珍德明永福"
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "186",
    "187",
    "188",
    "189",
    "199",
]
NOTES = [
    "复查结果已发送，患者询问下次复诊时间",
    "术后第7天电话随访，伤口恢复良好",
    "患者咨询饮食注意事项，已发送科普文章",
    "提醒患者按时服药，患者表示已按医嘱执行",
    "患者反馈睡眠改善，继续观察",
    "预约下周三上午复诊",
    "发送《甲状腺术后康复指南》",
    "患者询问医保报销流程，已解答",
]
CALL_OUTCOMES = ["已接通，情况稳定", "未接通，稍后再拨", "已接通，需要复诊", "已接通，转医生处理"]
# Most patients sit early in the journey or in long-term maintenance.
STAGE_WEIGHTS = {
    Stage.LEAD: 12,
    Stage.CONVERTED: 10,
    Stage.BOOKED: 8,
    Stage.ARRIVED: 3,
    Stage.CONSULTED: 8,
    Stage.DISPENSED: 6,
    Stage.AFTER_VISIT: 18,
    Stage.MAINTAINED: 25,
    Stage.CHURNED: 10,
}
SOURCE_WEIGHTS = {
    Source.WALK_IN: 30,
    Source.WECOM_QR: 25,
    Source.REFERRAL: 12,
    Source.ONLINE_PLATFORM: 10,
    Source.DOCTOR_IP: 15,
    Source.PARTNER: 3,
    Source.OTHER: 5,
}


def _pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def random_name(rng):
    given = "".join(rng.sample(GIVEN, rng.choice([1, 2, 2])))
    return rng.choice(SURNAMES) + given


def random_mobile(rng):
    return rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


WARD_NAMES = ["一病区（骨科）", "二病区（普外科）", "三病区（内分泌）"]


def seed_wards(*, clinic, nurses=()) -> list[Ward]:
    """The demo wards; the nurses staff the first two, so a nurse sees some patients, not all."""
    wards = []
    for n, name in enumerate(WARD_NAMES):
        ward = Ward.objects.filter(clinic=clinic, name=name).first() or Ward(clinic=clinic)
        wards.append(ward_save(ward=ward, name=name, nurses=list(nurses) if n < 2 else []))
    return wards


def seed_patients(*, clinic, count, doctors, assistants, seed=2026, wards=()):
    """Create `count` patients with journeys, tags, visits and timelines over two years.
    With `wards`, patients take them in turn, and every (len(wards) + 1)th has none."""
    rng = random.Random(seed)
    now = timezone.now()
    tags_by_group = {}
    for tag in PatientTag.objects.filter(clinic=clinic).select_related("group"):
        tags_by_group.setdefault(tag.group.kind, []).append(tag)
    created, used_phones = [], set()
    # Wards in turn, not drawn from rng, so the other data of a seed stays the same.
    ward_cycle = [*wards, None] if wards else [None]
    for n in range(count):
        phone = random_mobile(rng)
        while phone in used_phones:
            phone = random_mobile(rng)
        used_phones.add(phone)
        started = now - timedelta(days=rng.randint(1, 720), hours=rng.randint(0, 10))
        stage = _pick(rng, STAGE_WEIGHTS)
        source = _pick(rng, SOURCE_WEIGHTS)
        referrer = rng.choice(created) if source == Source.REFERRAL and created else None
        tags = [rng.choice(tags_by_group["disease"])]
        if rng.random() < 0.3:
            tags.append(rng.choice(tags_by_group["disease"]))
        if rng.random() < 0.25:
            tags.append(rng.choice(tags_by_group["surgery"]))
        tags.append(rng.choice(tags_by_group["severity"]))
        tags.append(rng.choice(tags_by_group["source"]))
        patient = services.patient_create(
            clinic=clinic,
            name=random_name(rng),
            phone=phone,
            source=source,
            at=started,
            gender=rng.choice(["female", "male"]),
            birth_date=(now - timedelta(days=rng.randint(18 * 365, 80 * 365))).date(),
            referred_by=referrer,
            ward=ward_cycle[n % len(ward_cycle)],
            assigned_doctor=rng.choice(doctors),
            assigned_assistant=rng.choice(assistants),
            consent_to_contact=rng.random() > 0.05,
            external_userid=f"wm{rng.getrandbits(64):016x}" if source == Source.WECOM_QR else "",
            tags=list({t.pk: t for t in tags}.values()),
        )
        _walk_journey(rng, patient, stage, started, now, doctors, assistants)
        created.append(patient)
    seed_caregivers(created)
    return created


def seed_caregivers(patients) -> list:
    """A caregiver (家属) on the oldest patient who may be messaged: a daughter who receives
    the re-exam and appointment reminders. Drawn without the seed's rng, so the other demo
    data stays the same."""
    from patients.caregivers import caregiver_save
    from patients.choices import CaregiverRelation, CaregiverReminder

    elders = sorted(
        (p for p in patients if p.birth_date and p.consent_to_contact and p.stage != Stage.CHURNED),
        key=lambda p: (p.birth_date, p.pk),
    )
    if not elders:
        return []
    elder = elders[0]
    if elder.caregivers.exists():
        return list(elder.caregivers.all())
    return [
        caregiver_save(
            patient=elder,
            name=f"{elder.name[0]}丽",
            relation=CaregiverRelation.CHILD,
            phone=f"1390013{elder.pk % 10000:04d}",
            external_userid=f"wmcare{elder.pk:010d}",
            reminders=[CaregiverReminder.RE_EXAM, CaregiverReminder.APPOINTMENT],
        )
    ]


def _walk_journey(rng, patient, final_stage, started, now, doctors, assistants):
    """Move the patient stage by stage to `final_stage`, with visits and touches on the way."""
    target = (
        JOURNEY.index(final_stage)
        if final_stage != Stage.CHURNED
        else rng.randint(1, len(JOURNEY) - 1)
    )
    at = started
    span = max((now - started).total_seconds(), 3600)
    step = span / (target + 3)
    visit_dates = []
    for stage in JOURNEY[1 : target + 1]:
        at = at + timedelta(seconds=step * rng.uniform(0.5, 1.0))
        services.patient_set_stage(
            patient=patient, stage=stage, actor=rng.choice(assistants), at=at
        )
        if stage == Stage.CONSULTED:
            visit_dates.append(at)
    if visit_dates:
        first = visit_dates[0]
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
            later = first + timedelta(days=rng.randint(14, 200))
            if later < now:
                visit_dates.append(later)
    for index, when in enumerate(sorted(visit_dates)):
        kind = (
            Visit.Kind.FIRST if index == 0 else rng.choice([Visit.Kind.REVISIT, Visit.Kind.RE_EXAM])
        )
        services.visit_record(
            patient=patient,
            visit_date=timezone.localdate(when),
            kind=kind,
            doctor=rng.choice(doctors),
            amount=Decimal(rng.randint(150, 3000)),
            at=when,
        )
    for _ in range(rng.randint(1, 4)):
        when = started + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < 0.5:
            timeline.touch_record(
                patient=patient,
                kind=TouchKind.CALL,
                channel=TouchChannel.PHONE,
                summary=rng.choice(CALL_OUTCOMES),
                actor=rng.choice(assistants),
                occurred_at=when,
            )
        else:
            timeline.touch_record(
                patient=patient,
                kind=TouchKind.NOTE,
                channel=TouchChannel.WECOM,
                summary=rng.choice(NOTES),
                actor=rng.choice(assistants),
                occurred_at=when,
            )
    if final_stage == Stage.CHURNED:
        services.patient_set_stage(
            patient=patient,
            stage=Stage.CHURNED,
            reason="半年未复诊，电话未接通",
            at=now - timedelta(days=rng.randint(1, 120)),
        )
