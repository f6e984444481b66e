"""Satisfaction surveys (满意度调查): ordered questions (single choice, multiple choice,
score, free text), a random, expiring link per patient, one answer per link, answers on the
timeline, and service recovery after a low score.

The score rule (survey_score): the survey's score is the mean of the answered score questions
marked "counts towards the score", on the survey's scale (1–5 or 0–10; score questions are
answered on it), rounded to one decimal. Choice and text questions never count; an answer
without a counted score has no score (it counts as answered, not in the mean).

Timeline contract (the dashboard reads it):
- sent:     Touch kind "survey", payload {"event": "sent", "survey_id", "invitation_id"}
            (+ "visit_id" / "appointment_id" when the survey asks about one)
- answered: Touch kind "survey", payload {"event": "answered", "score" (the survey's score, a
            JSON number; absent without one), "scale", "survey_id", "invitation_id"} (+ the
            visit or appointment), the free-text answers in the summary
- low score: Touch kind "followup", payload {"event": "service_recovery_needed", "score",
            "scale", "comment", "survey_id", "invitation_id"}; the follow-ups' trigger scan
            makes it a call-back task for the assistant (followups/triggers.py)
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from content.models import (
    CHOICE_KINDS,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyScale,
)
from followups.appointment_models import Appointment, AppointmentStatus
from patients.choices import TouchChannel, TouchKind
from patients.models import Visit
from patients.timeline import touch_record, worded
from wechat import audience
from wechat.composer import compose
from wechat.models import DeliveryChannel
from wechat.redline import redline_ensure
from wechat.services import delivery_enqueue

INVITATION_TTL = timedelta(days=14)
# The clinic's threshold: a survey score at or below it asks the assistant to call back.
LOW_SCORE = {SurveyScale.FIVE: 2, SurveyScale.TEN: 6}
SCORE_RANGE = {SurveyScale.FIVE: range(1, 6), SurveyScale.TEN: range(0, 11)}
MAX_QUESTIONS = 30
MAX_CHOICES = 20
CHOICE_LENGTH = 100
TEXT_LENGTH = 2000
# A one-question survey (survey_save(question=…)) also asks for a comment, as surveys did.
COMMENT_QUESTION = gettext_noop("Anything you would like to tell us? (optional)")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class QuestionDraft:
    """A question as an editor or the API sends it, before it is saved. `choices` are labels
    (the choice ids are kept by label when an existing question is edited)."""

    kind: str
    text: str
    choices: list = field(default_factory=list)
    required: bool = True
    counts: bool = False
    id: int | None = None


def _draft(raw) -> QuestionDraft:
    if isinstance(raw, QuestionDraft):
        return raw
    choices = raw.get("choices") or []
    if isinstance(choices, str):
        choices = choices.splitlines()
    labels = [c.get("label", "") if isinstance(c, dict) else c for c in choices]
    return QuestionDraft(
        kind=str(raw.get("kind") or ""),
        text=str(raw.get("text") or ""),
        choices=[str(label or "").strip() for label in labels if str(label or "").strip()],
        required=bool(raw.get("required", True)),
        counts=bool(raw.get("counts", False)),
        id=raw.get("id") or None,
    )


def _default_questions(question: str) -> list[QuestionDraft]:
    with translation.override(settings.LANGUAGE_CODE):  # the clinic's words, not the editor's
        comment = _(COMMENT_QUESTION)
    return [
        QuestionDraft(kind=QuestionKind.SCORE, text=question, counts=True),
        QuestionDraft(kind=QuestionKind.TEXT, text=comment, required=False),
    ]


def _questions_check(drafts: list[QuestionDraft], existing: dict) -> list[str]:
    """The editor's problems, each naming its question ("第 2 题：…")."""
    problems = []
    if not drafts:
        problems.append(_("Add at least one question."))
    if len(drafts) > MAX_QUESTIONS:
        problems.append(_("A survey has at most %(n)s questions.") % {"n": MAX_QUESTIONS})
    for n, draft in enumerate(drafts, start=1):

        def say(message, n=n):
            problems.append(_("Question %(n)s: %(problem)s") % {"n": n, "problem": message})

        if draft.kind not in QuestionKind.values:
            say(_("choose the kind of question."))
            continue
        text = draft.text.strip()
        if not text:
            say(_("enter the question."))
        elif len(text) > 200:
            say(_("the question is at most 200 characters."))
        if "\x00" in text or any("\x00" in c for c in draft.choices):
            say(_("the text has a character that is not allowed."))
        if draft.kind in CHOICE_KINDS:
            labels = draft.choices
            if len(labels) < 2:
                say(_("a choice question needs at least two choices, one per line."))
            if len(labels) > MAX_CHOICES:
                say(_("at most %(n)s choices.") % {"n": MAX_CHOICES})
            if len(set(labels)) != len(labels):
                say(_("two choices have the same text."))
            if any(len(label) > CHOICE_LENGTH for label in labels):
                say(_("a choice is at most %(n)s characters.") % {"n": CHOICE_LENGTH})
        if draft.counts and draft.kind != QuestionKind.SCORE:
            say(_("only score questions count towards the score."))
        if draft.id is not None:
            old = existing.get(draft.id)
            if old is None:
                say(_("this question is not one of this survey's."))
            elif old.kind != draft.kind and old.answers.exists():
                say(_("it has answers, so its kind cannot change."))
    ids = [d.id for d in drafts if d.id is not None]
    if len(set(ids)) != len(ids):
        problems.append(_("A question is listed twice."))
    for pk, old in existing.items():
        if pk not in ids and old.answers.exists():
            problems.append(
                _(
                    "The question “%(text)s” has answers and cannot be removed; switch the "
                    "survey off and make a new one instead."
                )
                % {"text": old.text}
            )
    return problems


def _choices_with_ids(labels: list[str], old: SurveyQuestion | None) -> list[dict]:
    """Each label keeps the id it had in the old question, new labels get new ids."""
    known = {c["label"]: c["id"] for c in (old.choices if old else []) if "id" in c}
    used = [int(i[1:]) for i in known.values() if i[1:].isdigit()]
    following = max(used, default=0)
    result = []
    for label in labels:
        if label in known:
            result.append({"id": known[label], "label": label})
        else:
            following += 1
            result.append({"id": f"c{following}", "label": label})
    return result


@transaction.atomic
def survey_save(
    *,
    clinic,
    title: str,
    scale: int = 5,
    is_active=True,
    questions=None,
    question: str | None = None,
    survey=None,
) -> Survey:
    """Create or edit a survey with its ordered questions (`questions`: QuestionDraft or dicts
    with kind, text, choices, required, counts, and the id of an existing question). Without
    `questions`, `question` makes a new survey's score question (counted) and its optional
    comment, or renames an existing survey's first question. A question with answers keeps its
    kind and cannot be removed."""
    title = (title or "").strip()
    errors = {}
    if not title:
        errors["title"] = [_("Enter a title.")]
    elif "\x00" in title:
        errors["title"] = [_("The text has a character that is not allowed.")]
    if scale not in SurveyScale.values:
        errors["scale"] = [_("The scale is 1 to 5 or 0 to 10.")]
    existing = {q.pk: q for q in survey.questions.all()} if survey and survey.pk else {}
    if questions is None:
        if question is not None and not (question or "").strip():
            errors["question"] = [_("Enter the question.")]
            drafts = []
        elif not existing:
            if question is None:
                errors["question"] = [_("Enter the question.")]
                drafts = []
            else:
                drafts = _default_questions(question.strip())
        else:
            ordered = sorted(existing.values(), key=lambda q: q.position)
            drafts = [
                QuestionDraft(
                    kind=q.kind,
                    text=q.text,
                    choices=[c["label"] for c in q.choices],
                    required=q.required,
                    counts=q.counts,
                    id=q.pk,
                )
                for q in ordered
            ]
            if question is not None:
                drafts[0].text = question.strip()
    else:
        try:
            drafts = [_draft(raw) for raw in questions]
        except (AttributeError, TypeError):
            drafts = []
            errors["questions"] = [_("The questions are not in a form this page understands.")]
    if not errors.get("question") and not errors.get("questions"):
        problems = _questions_check(drafts, existing)
        if problems:
            errors["questions"] = problems
    if errors:
        raise ValidationError(errors)
    texts = [title]
    for draft in drafts:
        texts.append(draft.text.strip())
        texts.extend(draft.choices)
    redline_ensure(clinic=clinic, text="\n".join(texts), field="question")
    survey = survey or Survey(clinic=clinic)
    survey.title, survey.scale, survey.is_active = title, scale, is_active
    survey.save()
    kept = {d.id for d in drafts if d.id is not None}
    SurveyQuestion.objects.filter(survey=survey).exclude(pk__in=kept).delete()
    for position, draft in enumerate(drafts, start=1):
        old = existing.get(draft.id) if draft.id is not None else None
        row = old or SurveyQuestion(clinic_id=survey.clinic_id, survey=survey)
        row.position, row.kind, row.text = position, draft.kind, draft.text.strip()
        row.choices = _choices_with_ids(draft.choices, old) if draft.kind in CHOICE_KINDS else []
        row.required = draft.required
        row.counts = draft.counts and draft.kind == QuestionKind.SCORE
        row.save()
    return survey


def survey_questions_problems(*, questions, survey=None) -> list[str]:
    """The editor's problems with `questions` alone (shown with the form's own errors)."""
    existing = {q.pk: q for q in survey.questions.all()} if survey and survey.pk else {}
    try:
        drafts = [_draft(raw) for raw in questions]
    except (AttributeError, TypeError):
        return [_("The questions are not in a form this page understands.")]
    return _questions_check(drafts, existing)


def survey_questions(survey: Survey) -> list[SurveyQuestion]:
    return list(survey.questions.order_by("position"))


def survey_link(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("content:survey_public", args=[token])


# The invitation's text: the composer fills {姓名} {诊所} and the tracked {链接}.
INVITATION_TEXT = gettext_noop(
    "{姓名}, thank you for visiting {诊所}. %(question)s Tap to answer: {链接}"
)


def _subject_check(*, patient, visit=None, appointment=None) -> None:
    """A survey asks about one visit or one appointment of the patient, or about neither."""
    if visit is not None and appointment is not None:
        raise ValidationError({"visit": [_("Choose a visit or an appointment, not both.")]})
    if visit is not None and (
        visit.clinic_id != patient.clinic_id or visit.patient_id != patient.pk
    ):
        raise ValidationError({"visit": [_("The visit is not one of this patient's.")]})
    if appointment is not None and (
        appointment.clinic_id != patient.clinic_id or appointment.patient_id != patient.pk
    ):
        raise ValidationError({"appointment": [_("The appointment is not one of this patient's.")]})


@transaction.atomic
def survey_invite(
    *, survey: Survey, patient, by=None, visit=None, appointment=None
) -> SurveyInvitation:
    """Invite one patient: a new link (valid 14 days), the "sent" touch, and — when the
    patient has a WeCom contact, consents and has a staff sender — the message with the link
    in the outbox. `invitation.link` holds the link once (only its hash is stored). The
    survey may ask about one of the patient's visits or appointments."""
    if patient.clinic_id != survey.clinic_id:
        raise ValidationError({"patient": [_("The patient is not of this clinic.")]})
    if not survey.is_active:
        raise ValidationError({"survey": [_("This survey is switched off.")]})
    _subject_check(patient=patient, visit=visit, appointment=appointment)
    # A survey invitation is a care message: the audience rule says whether and from whom.
    sender, exclusion = audience.audience_check(patient=patient, purpose=audience.Purpose.CARE)
    return _invitation_make(
        survey=survey,
        patient=patient,
        sender="" if exclusion else sender,
        by=by,
        visit=visit,
        appointment=appointment,
    )


def _invitation_text(survey: Survey) -> str:
    # The survey's own question is the clinic's text: braces in it are not variables.
    question = survey.question.replace("{", "（").replace("}", "）")
    return _(INVITATION_TEXT) % {"question": question}


def _subject_ids(invitation) -> dict:
    ids = {}
    if invitation.visit_id:
        ids["visit_id"] = invitation.visit_id
    if invitation.appointment_id:
        ids["appointment_id"] = invitation.appointment_id
    return ids


def subject_label(invitation) -> str:
    """What the survey asks about, in words: "就诊 2026-03-01" / "预约 2026-03-01 09:30"."""
    if invitation.visit_id and invitation.visit is not None:
        return _("visit of %(date)s") % {"date": invitation.visit.visit_date.isoformat()}
    if invitation.appointment_id and invitation.appointment is not None:
        start = timezone.localtime(invitation.appointment.start)
        return _("appointment of %(time)s") % {"time": date_format(start, "Y-m-d H:i")}
    return ""


def _subject_worded(invitation):
    if invitation.visit_id and invitation.visit is not None:
        return worded(
            gettext_noop("visit of %(date)s"), date=invitation.visit.visit_date.isoformat()
        )
    if invitation.appointment_id and invitation.appointment is not None:
        start = timezone.localtime(invitation.appointment.start)
        return worded(gettext_noop("appointment of %(time)s"), time=date_format(start, "Y-m-d H:i"))
    return None


def _invitation_make(
    *,
    survey: Survey,
    patient,
    sender: str,
    by=None,
    channel=None,
    visit=None,
    appointment=None,
) -> SurveyInvitation:
    """The invitation, its "sent" touch and — with a sender — its message in the outbox,
    composed by the one composer ({链接} filled, red lines, the 120 notice, WeCom's length)."""
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    invitation = SurveyInvitation.objects.create(
        clinic_id=survey.clinic_id,
        survey=survey,
        patient=patient,
        token_hash=token_hash(token),
        sent_by=by,
        created_at=now,
        expires_at=now + INVITATION_TTL,
        visit=visit,
        appointment=appointment,
    )
    invitation.link = survey_link(token)
    if sender:
        text = compose(
            clinic=patient.clinic,
            text=_invitation_text(survey),
            patient=patient,
            extra={"链接": invitation.link},
        )
        invitation.delivery, _created = delivery_enqueue(
            clinic=patient.clinic,
            key=f"survey:{invitation.pk}:invite",
            channel=DeliveryChannel.CUSTOMER_MESSAGE,
            recipient=patient.external_userid,
            sender=sender,
            body=text,
            patient=patient,
            payload={
                "survey_id": survey.pk,
                "invitation_id": invitation.pk,
                "purpose": audience.Purpose.CARE,
            },
            expires_at=invitation.expires_at,
        )
        invitation.save(update_fields=["delivery"])
    summary = worded(gettext_noop("Survey sent: %(title)s"), title=survey.title)
    about = _subject_worded(invitation)
    if about is not None:
        summary = worded(gettext_noop("%(entry)s (%(about)s)"), entry=summary, about=about)
    touch_record(
        patient=patient,
        kind=TouchKind.SURVEY,
        channel=channel or (TouchChannel.WECOM if invitation.delivery_id else TouchChannel.SYSTEM),
        actor=by,
        summary=summary,
        payload={
            "event": "sent",
            "survey_id": survey.pk,
            "invitation_id": invitation.pk,
            **_subject_ids(invitation),
        },
        occurred_at=now,
    )
    return invitation


def open_invitations(survey: Survey):
    """The survey's invitations that still count as the patient's one: answered, or open."""
    return survey.invitations.filter(
        Q(answered_at__isnull=False) | Q(expires_at__gt=timezone.now())
    )


@dataclass
class InviteResult:
    """What a batch of invitations did: sent, skipped as already invited, and the refusals
    by the audience rule's reason ({reason label: count})."""

    sent: int = 0
    already: int = 0
    refused: dict = field(default_factory=dict)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


def survey_invite_many(*, survey: Survey, patients, by=None) -> InviteResult:
    """Invite a set of the clinic's patients (picked by hand or a segment's), one invitation
    per patient: a patient with an answered or still-open invitation is skipped; one the
    audience rule (purpose care) refuses gets nothing — no link, no message — and is counted
    under the rule's reason. `patients` is a queryset of the survey's clinic's patients."""
    if not survey.is_active:
        raise ValidationError({"survey": [_("This survey is switched off.")]})
    patients = patients.filter(clinic_id=survey.clinic_id)
    result = InviteResult()
    invited = set(open_invitations(survey).values_list("patient_id", flat=True))
    verdicts = audience.audience_verdicts(
        patients.values_list("pk", flat=True), purpose=audience.Purpose.CARE
    )
    by_pk = {p.pk: p for p in patients.select_related("clinic", "assigned_doctor")}
    for pk in sorted(verdicts):
        sender, exclusion = verdicts[pk]
        if pk in invited:
            result.already += 1
            continue
        if exclusion:
            label = audience.exclusion_label(exclusion)
            result.refused[label] = result.refused.get(label, 0) + 1
            continue
        try:
            with transaction.atomic():
                _invitation_make(survey=survey, patient=by_pk[pk], sender=sender, by=by)
        except ValidationError:
            # The composed text was refused for this patient (a red line, a missing value).
            label = audience.exclusion_label(audience.Exclusion.TEXT_REFUSED)
            result.refused[label] = result.refused.get(label, 0) + 1
            continue
        result.sent += 1
    return result


class InvitationState:
    OK = "ok"
    ANSWERED = "answered"
    EXPIRED = "expired"
    INVALID = "invalid"


def invitation_for_token(token: str) -> tuple[SurveyInvitation | None, str]:
    """The invitation a link opens and its state. A tampered or unknown token is INVALID."""
    if not token or len(token) > 100:
        return None, InvitationState.INVALID
    invitation = (
        SurveyInvitation.objects.select_related(
            "survey", "patient", "clinic", "visit", "appointment"
        )
        .filter(token_hash=token_hash(token))
        .first()
    )
    if invitation is None:
        return None, InvitationState.INVALID
    if invitation.answered_at is not None:
        return invitation, InvitationState.ANSWERED
    if timezone.now() >= invitation.expires_at:
        return invitation, InvitationState.EXPIRED
    return invitation, InvitationState.OK


def survey_score(survey: Survey, scores: dict) -> Decimal | None:
    """The survey's score by its rule: the mean of the answered counted score questions
    (`scores`: {question: score}), on the survey's scale, rounded to one decimal."""
    counted = [score for question, score in scores.items() if question.counts]
    if not counted:
        return None
    mean = Decimal(sum(counted)) / Decimal(len(counted))
    return mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def score_number(score: Decimal | None):
    """A score as the timeline stores it: a JSON number, whole when it is whole (9, 4.5)."""
    if score is None:
        return None
    return int(score) if score == score.to_integral_value() else float(score)


def _clean_text(value) -> str:
    return str(value or "").replace("\x00", "").strip()


def answers_clean(survey: Survey, raw: dict, questions=None) -> tuple[dict, dict]:
    """The patient's answers from `raw` ({question pk: [values]}, as a form posts them), or
    their problems ({"q<pk>": [message]}) in the patient's language. Never raises on bad
    input: unknown choice ids, scores out of range, NUL characters are problems or ignored."""
    questions = questions if questions is not None else survey_questions(survey)
    valid_scores = SCORE_RANGE[survey.scale]
    answers, errors = {}, {}
    for question in questions:
        values = raw.get(question.pk) or []
        if isinstance(values, str | int):
            values = [values]
        values = [_clean_text(v) for v in values if isinstance(v, str | int)]
        values = [v for v in values if v]
        key = f"q{question.pk}"
        if not values:
            if question.required:
                message = {
                    QuestionKind.SINGLE: _("Please choose one answer."),
                    QuestionKind.MULTIPLE: _("Please choose at least one answer."),
                    QuestionKind.SCORE: _("Please choose a score."),
                    QuestionKind.TEXT: _("Please write an answer."),
                }[question.kind]
                errors[key] = [message]
            continue
        if question.kind in CHOICE_KINDS:
            known = {c["id"] for c in question.choices}
            chosen = list(dict.fromkeys(values))
            if any(v not in known for v in chosen):
                errors[key] = [_("Please choose among the answers shown.")]
            elif question.kind == QuestionKind.SINGLE and len(chosen) > 1:
                errors[key] = [_("Please choose only one answer.")]
            else:
                answers[question] = chosen
        elif question.kind == QuestionKind.SCORE:
            try:
                score = int(values[0])
            except ValueError:
                score = None
            if len(values) > 1 or score not in valid_scores:
                errors[key] = [
                    _("Choose a score from %(low)s to %(high)s.")
                    % {"low": valid_scores[0], "high": valid_scores[-1]}
                ]
            else:
                answers[question] = score
        else:
            text = values[0]
            if len(text) > TEXT_LENGTH:
                errors[key] = [
                    _("Please keep the answer under %(n)s characters.") % {"n": TEXT_LENGTH}
                ]
            else:
                answers[question] = text
    return answers, errors


def _legacy_raw(questions, score, comment) -> dict:
    """survey_answer(score=…, comment=…): the first score question and the first text one."""
    raw = {}
    first_score = next((q for q in questions if q.kind == QuestionKind.SCORE), None)
    first_text = next((q for q in questions if q.kind == QuestionKind.TEXT), None)
    if first_score is not None and score is not None:
        raw[first_score.pk] = [str(score)]
    if first_text is not None and comment:
        raw[first_text.pk] = [comment]
    return raw


def survey_answer(
    *, invitation: SurveyInvitation, answers: dict | None = None, score=None, comment: str = ""
) -> tuple[SurveyInvitation, bool]:
    """Record the answer (`answers`: {question pk: [values]}; for a one-score survey `score`
    and `comment` will do); (invitation, False) when the link was answered before — the first
    answer is kept. The survey's score by its rule; a low one asks the assistant for service
    recovery. What staff read (the timeline, the recovery task) is in the clinic's language,
    not the patient's browser's; the problems with the answer are in the patient's."""
    patient_language = translation.get_language()
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        invitation = (
            SurveyInvitation.objects.select_for_update(of=("self",))
            .select_related("survey", "patient__clinic", "visit", "appointment")
            .get(pk=invitation.pk)
        )
        if invitation.answered_at is not None:
            return invitation, False
        if timezone.now() >= invitation.expires_at:
            raise ValidationError(_("This survey link has expired."))
        survey = invitation.survey
        questions = survey_questions(survey)
        raw = answers if answers is not None else _legacy_raw(questions, score, comment)
        with translation.override(patient_language):
            cleaned, errors = answers_clean(survey, raw, questions)
        if errors:
            raise ValidationError(errors)
        rows, scores, texts = [], {}, []
        for question, value in cleaned.items():
            row = SurveyAnswer(
                clinic_id=invitation.clinic_id, invitation=invitation, question=question
            )
            if question.kind in CHOICE_KINDS:
                row.choice_ids = value
            elif question.kind == QuestionKind.SCORE:
                row.score = scores[question] = value
            else:
                row.text = value
                texts.append(value)
            rows.append(row)
        SurveyAnswer.objects.bulk_create(rows)
        invitation.score = survey_score(survey, scores)
        invitation.answered_at = timezone.now()
        invitation.save(update_fields=["score", "answered_at"])
        invitation.comment = " / ".join(texts)
        patient = invitation.patient
        number = score_number(invitation.score)
        ids = {"survey_id": survey.pk, "invitation_id": invitation.pk, **_subject_ids(invitation)}
        if number is None:
            summary = worded(gettext_noop("Survey answered: %(title)s"), title=survey.title)
        else:
            summary = worded(
                gettext_noop("Survey answered: %(score)s/%(scale)s"),
                score=number,
                scale=survey.scale,
            )
        about = _subject_worded(invitation)
        if about is not None:
            summary = worded(gettext_noop("%(entry)s (%(about)s)"), entry=summary, about=about)
        if invitation.comment:
            summary = worded(
                gettext_noop("%(entry)s %(comment)s"), entry=summary, comment=invitation.comment
            )
        payload = {"event": "answered", "scale": survey.scale, **ids}
        if number is not None:
            payload["score"] = number
        touch_record(patient=patient, kind=TouchKind.SURVEY, summary=summary, payload=payload)
        if number is not None and invitation.score <= LOW_SCORE[survey.scale]:
            _service_recovery(invitation, patient, number)
    return invitation, True


def _service_recovery(invitation, patient, score) -> None:
    """The timeline entry the follow-ups' trigger scan turns into a call-back task for the
    assistant. No message of its own: the task reaches the assistant's queue and digest."""
    survey = invitation.survey
    touch_record(
        patient=patient,
        kind=TouchKind.FOLLOWUP,
        summary=worded(
            gettext_noop(
                "Low satisfaction score %(score)s/%(scale)s: please call the patient back."
            ),
            score=score,
            scale=survey.scale,
        ),
        payload={
            "event": "service_recovery_needed",
            "score": score,
            "scale": survey.scale,
            "comment": invitation.comment,
            "survey_id": survey.pk,
            "invitation_id": invitation.pk,
            **_subject_ids(invitation),
        },
    )


# A care plan's survey step (followups/step_links.py) ------------------------------------


def step_survey_clean(clinic, value) -> int | None:
    """The survey a step names: one of the clinic's active surveys; empty: the clinic's newest
    active survey when the step is sent."""
    if value in (None, ""):
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        pk = None
    if pk is None or not Survey.objects.filter(clinic=clinic, pk=pk, is_active=True).exists():
        raise ValidationError(_("choose one of this clinic's active surveys."))
    return pk


def step_survey_choices(clinic) -> list[tuple[str, str]]:
    return [(str(s.pk), s.title) for s in Survey.objects.filter(clinic=clinic, is_active=True)]


def step_survey_link(task, step: dict) -> str:
    """The due survey step's invitation: a new link for the patient (the "sent" touch on the
    timeline) that the step's message carries; the follow-ups' reminder is its message, so
    the invitation has no delivery of its own. ValidationError when the survey is gone."""
    surveys = Survey.objects.filter(clinic_id=task.clinic_id, is_active=True)
    survey = (
        surveys.filter(pk=step["survey_id"]).first()
        if step.get("survey_id")
        else surveys.order_by("-created_at", "-pk").first()
    )
    if survey is None:
        raise ValidationError({"survey": [_("The step's survey is missing or switched off.")]})
    visit, appointment = _plan_subject(task)
    invitation = _invitation_make(
        survey=survey,
        patient=task.patient,
        sender="",
        by=None,
        channel=TouchChannel.WECOM,
        visit=visit,
        appointment=appointment,
    )
    return invitation.link


def _plan_subject(task):
    """What a care plan's survey asks about: the patient's visit on the plan's anchor date,
    else the appointment the patient arrived for on that day, else nothing."""
    plan = getattr(task, "plan", None)
    if plan is None:
        return None, None
    visit = (
        Visit.objects.filter(
            clinic_id=task.clinic_id, patient_id=task.patient_id, visit_date=plan.anchor_date
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if visit is not None:
        return visit, None
    appointment = (
        Appointment.objects.filter(
            clinic_id=task.clinic_id,
            patient_id=task.patient_id,
            start__date=plan.anchor_date,
            status=AppointmentStatus.ARRIVED,
        )
        .order_by("-start")
        .first()
    )
    return None, appointment
