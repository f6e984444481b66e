"""A deterministic, realistic patient dataset at hospital scale, written with PostgreSQL COPY.

Used by `generate_load` (benchmarks) and its smoke test. The ORM path (services) is what the
application uses; this module only exists to make a million patients in minutes. Rows look
like what the services write: the same columns, stages, touches and encrypted phones.
"""

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone
from pypinyin import Style, lazy_pinyin

from bench.loadgen.bulk_copy import Copier, Ids, begin_bulk_load, reset_sequence
from crm import crypto
from patients.choices import JOURNEY, Stage, TouchChannel, TouchKind
from patients.demo import GIVEN, MOBILE_PREFIXES, NOTES, SURNAMES
from patients.models import Patient, PatientTag, Visit
from patients.phones import mask_phone

SOURCES = ["walk_in", "wecom_qr", "referral", "online_platform", "doctor_ip", "partner", "other"]
SOURCE_WEIGHTS = [30, 25, 12, 10, 15, 3, 5]
# Final stage of a patient's journey: most are early or in long-term maintenance.
FINAL_STAGE_WEIGHTS = [12, 10, 8, 3, 8, 6, 18, 25]
CHURN_SHARE = 0.10
# After a visit the clinic sends a satisfaction survey to some patients; most answer well.
SURVEY_SHARE = 0.35
SURVEY_ANSWERED = 0.6
SURVEY_SCORES, SURVEY_SCORE_WEIGHTS = [5, 4, 3, 2, 1], [45, 30, 13, 7, 5]
SURVEY_SENT = (TouchKind.SURVEY, TouchChannel.WECOM)
FILLER_KINDS = [
    (TouchKind.NOTE, TouchChannel.WECOM),
    (TouchKind.CALL, TouchChannel.PHONE),
    (TouchKind.MESSAGE, TouchChannel.WECOM),
]


def _initials_table():
    chars = set(SURNAMES + GIVEN)
    return {c: (lazy_pinyin(c, style=Style.FIRST_LETTER) or [""])[0].lower() for c in chars}


@dataclass
class LoadStats:
    patients: int = 0
    tagged: int = 0
    transitions: int = 0
    visits: int = 0
    touches: int = 0
    first_patient_id: int = 0
    patient_ids: list = field(default_factory=list, repr=False)


# A few long-standing patients have very long timelines (the 100th timeline page must exist).
HEAVY_PATIENTS = 5
HEAVY_TOUCHES = 3_500


def generate_patients(
    *, clinic, patients, touches, doctors, assistants, seed=1, years=3, now=None
) -> LoadStats:
    """COPY `patients` patients of `clinic` with tags, journeys, visits and about `touches`
    timeline entries in all (skewed: most timelines are short; the first HEAVY_PATIENTS
    patients have HEAVY_TOUCHES entries each when the total allows it)."""
    from patients.models import StageTransition, TaggedPatient, Touch

    begin_bulk_load()
    rng = random.Random(seed)
    # Surveys draw from their own stream so that adding them left every other row as it was.
    survey_rng = random.Random(seed + 7_919)
    now = now or timezone.now()
    start = now - timedelta(days=365 * years)
    span = (now - start).total_seconds()
    initials = _initials_table()
    tags = list(PatientTag.objects.filter(clinic=clinic).select_related("group").order_by("id"))
    by_kind = {}
    for tag in tags:
        by_kind.setdefault(tag.group.kind, []).append(tag.pk)
    # Skewed popularity: the first tags of a group are far more common (Zipf-like weights).
    zipf = {
        kind: [1 / (rank + 1) ** 1.1 for rank in range(len(ids))] for kind, ids in by_kind.items()
    }

    stats = LoadStats()
    ids = Ids(Patient, TaggedPatient, StageTransition, Visit, Touch)
    patient_id = stats.first_patient_id = ids.ids[Patient]
    copiers = {
        "patient": Copier(
            Patient,
            [
                "id",
                "clinic_id",
                "name",
                "name_initials",
                "gender",
                "birth_date",
                "phone_encrypted",
                "phone_hash",
                "phone_last4",
                "phone_masked",
                "external_userid",
                "source",
                "source_detail",
                "referred_by_id",
                "assigned_doctor_id",
                "assigned_assistant_id",
                "stage",
                "stage_changed_at",
                "consent_to_contact",
                "last_visit_date",
                "notes",
                "created_at",
                "updated_at",
                "tag_ids",
            ],
        ),
        "tagged": Copier(TaggedPatient, ["id", "content_object_id", "tag_id", "created_at"]),
        "transition": Copier(
            StageTransition,
            [
                "id",
                "clinic_id",
                "patient_id",
                "from_stage",
                "to_stage",
                "reason",
                "by_id",
                "at",
            ],
        ),
        "visit": Copier(
            Visit,
            [
                "id",
                "clinic_id",
                "patient_id",
                "visit_date",
                "kind",
                "doctor_id",
                "amount",
                "notes",
                "created_at",
            ],
        ),
        "touch": Copier(
            Touch,
            [
                "id",
                "clinic_id",
                "patient_id",
                "kind",
                "channel",
                "actor_id",
                "summary",
                "payload",
                "occurred_at",
                "created_at",
            ],
        ),
    }

    next_id = ids.next

    def touch(pid, kind, channel, actor, summary, payload, at):
        copiers["touch"].add(
            [
                next_id(Touch),
                clinic.pk,
                pid,
                kind,
                channel,
                actor,
                summary,
                json.dumps(payload, ensure_ascii=False),
                at.isoformat(),
                at.isoformat(),
            ]
        )

    labels = {stage.value: str(stage.label) for stage in Stage}  # resolve lazy labels once
    # Everything except the filler touches is about 8 rows a patient; the rest is filler.
    heavy = HEAVY_TOUCHES if touches >= 2 * HEAVY_PATIENTS * HEAVY_TOUCHES else 0
    filler_mean = max((touches - heavy * HEAVY_PATIENTS) / max(patients, 1) - 8, 0)
    used_phones = set()
    for n in range(patients):
        pid = patient_id + n
        created = start + timedelta(seconds=rng.random() * span)
        surname, given = rng.choice(SURNAMES), "".join(rng.sample(GIVEN, rng.choice([1, 2, 2])))
        name = surname + given
        phone = None
        while phone is None or phone in used_phones:
            phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        used_phones.add(phone)
        e164 = "+86" + phone
        source = rng.choices(SOURCES, SOURCE_WEIGHTS)[0]
        referrer = rng.randrange(patient_id, pid) if source == "referral" and n else None
        doctor, assistant = rng.choice(doctors), rng.choice(assistants)

        # The journey: transitions up to the final stage, perhaps churned after.
        final = rng.choices(range(len(JOURNEY)), FINAL_STAGE_WEIGHTS)[0]
        churned = rng.random() < CHURN_SHARE
        remaining = (now - created).total_seconds()
        at, steps = created, []
        for stage in JOURNEY[1 : final + 1]:
            at = at + timedelta(seconds=remaining / (final + 3) * rng.uniform(0.3, 1.0))
            steps.append((stage, at))
        if churned:
            at = at + (now - at) * rng.uniform(0.3, 0.9)
            steps.append((Stage.CHURNED, at))
        stage, stage_at = steps[-1] if steps else (Stage.LEAD, created)

        # Visits: the first at the consultation, revisits after.
        visit_dates = []
        consulted = next((when for s, when in steps if s == Stage.CONSULTED), None)
        if consulted:
            visit_dates.append(consulted)
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
                later = consulted + timedelta(days=rng.randint(14, 240))
                if later < now:
                    visit_dates.append(later)
        visit_dates.sort()
        last_visit = visit_dates[-1].date() if visit_dates else None

        # Written once its tags are chosen (their ids are a column of the row).
        patient_row = [
            pid,
            clinic.pk,
            name,
            "".join(initials.get(c, "") for c in name),
            rng.choice(["female", "male"]),
            date(
                1940 + rng.randrange(66), 1 + rng.randrange(12), 1 + rng.randrange(28)
            ).isoformat(),
            crypto.encrypt(e164),
            crypto.lookup_hash(e164),
            e164[-4:],
            mask_phone(e164),
            f"wm{rng.getrandbits(64):016x}" if source == "wecom_qr" else "",
            source,
            "",
            referrer,
            doctor,
            assistant,
            stage,
            stage_at.isoformat(),
            rng.random() > 0.05,
            last_visit.isoformat() if last_visit else None,
            "",
            created.isoformat(),
            stage_at.isoformat(),
        ]
        touch(
            pid,
            TouchKind.PROFILE,
            TouchChannel.SYSTEM,
            assistant,
            "建立患者档案",
            {"stage": "lead", "source": source},
            created,
        )
        copiers["transition"].add(
            [
                next_id(StageTransition),
                clinic.pk,
                pid,
                "",
                Stage.LEAD,
                "新建",
                assistant,
                created.isoformat(),
            ]
        )
        previous = Stage.LEAD
        for step_stage, when in steps:
            copiers["transition"].add(
                [
                    next_id(StageTransition),
                    clinic.pk,
                    pid,
                    previous,
                    step_stage,
                    "",
                    assistant,
                    when.isoformat(),
                ]
            )
            touch(
                pid,
                TouchKind.STAGE_CHANGE,
                TouchChannel.SYSTEM,
                assistant,
                f"阶段：{labels[previous]} → {labels[step_stage]}",
                {"from": previous, "to": step_stage, "reason": ""},
                when,
            )
            previous = step_stage

        chosen = {
            rng.choices(by_kind["disease"], zipf["disease"])[0],
            rng.choices(by_kind["severity"], zipf["severity"])[0],
        }
        if rng.random() < 0.3:
            chosen.add(rng.choices(by_kind["disease"], zipf["disease"])[0])
        if rng.random() < 0.25:
            chosen.add(rng.choices(by_kind["surgery"], zipf["surgery"])[0])
        for tag_id in chosen:
            copiers["tagged"].add([next_id(TaggedPatient), pid, tag_id, created.isoformat()])
        copiers["patient"].add([*patient_row, json.dumps(sorted(chosen))])
        touch(
            pid,
            TouchKind.TAG_CHANGE,
            TouchChannel.SYSTEM,
            assistant,
            "标签变更",
            {"added": [{"id": t} for t in sorted(chosen)], "removed": []},
            created,
        )

        for index, when in enumerate(visit_dates):
            kind = (
                Visit.Kind.FIRST
                if index == 0
                else rng.choice([Visit.Kind.REVISIT, Visit.Kind.RE_EXAM])
            )
            visit_id = next_id(Visit)
            amount = rng.randint(150, 3000)
            copiers["visit"].add(
                [
                    visit_id,
                    clinic.pk,
                    pid,
                    when.date().isoformat(),
                    kind,
                    doctor,
                    amount,
                    "",
                    when.isoformat(),
                ]
            )
            touch(
                pid,
                TouchKind.VISIT,
                TouchChannel.IN_PERSON,
                assistant,
                f"{when.date()} 就诊",
                {"visit_id": visit_id, "kind": kind, "amount": str(amount)},
                when,
            )
            if survey_rng.random() < SURVEY_SHARE:
                sent = when + timedelta(days=1, hours=survey_rng.uniform(0, 8))
                answered = sent + timedelta(hours=survey_rng.uniform(0.2, 48))
                if sent < now:
                    touch(pid, *SURVEY_SENT, assistant, "发送满意度调查", {"event": "sent"}, sent)
                if answered < now and survey_rng.random() < SURVEY_ANSWERED:
                    score = survey_rng.choices(SURVEY_SCORES, SURVEY_SCORE_WEIGHTS)[0]
                    touch(
                        pid,
                        *SURVEY_SENT,
                        None,
                        f"满意度调查已回复：{score}/5",
                        {"event": "answered", "score": score, "scale": 5},
                        answered,
                    )

        # Filler contacts: exponential, so most timelines are short and a few are long.
        fillers = int(rng.expovariate(1 / filler_mean)) if filler_mean else 0
        if n < HEAVY_PATIENTS:
            fillers += heavy
        for _ in range(fillers):
            kind, channel = rng.choice(FILLER_KINDS)
            when = created + timedelta(seconds=rng.random() * max(remaining, 60))
            touch(pid, kind, channel, assistant, rng.choice(NOTES), {}, when)

    for copier in copiers.values():
        copier.flush()
    for model in (Patient, TaggedPatient, StageTransition, Visit, Touch):
        reset_sequence(model)
    stats.patients = copiers["patient"].total
    stats.tagged = copiers["tagged"].total
    stats.transitions = copiers["transition"].total
    stats.visits = copiers["visit"].total
    stats.touches = copiers["touch"].total
    return stats
