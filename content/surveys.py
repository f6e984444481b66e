"""Satisfaction surveys (满意度调查): a signed, expiring link per patient, one answer per
link, answers on the timeline, and service recovery after a low score.

Timeline contract (the dashboard reads it):
- sent:     Touch kind "survey", payload {"event": "sent", "survey_id", "invitation_id"}
- answered: Touch kind "survey", payload {"event": "answered", "score", "scale", "survey_id",
            "invitation_id"}, the comment in the summary
- low score: Touch kind "followup", payload {"event": "service_recovery_needed", "score",
            "scale", "comment", "survey_id", "invitation_id"}; the follow-ups' trigger scan
            makes it a call-back task for the assistant (followups/triggers.py)
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from content.models import Survey, SurveyInvitation, SurveyScale
from patients.choices import TouchChannel, TouchKind
from patients.timeline import touch_record, worded
from wechat import audience
from wechat.composer import compose
from wechat.models import DeliveryChannel
from wechat.redline import redline_ensure
from wechat.services import delivery_enqueue

INVITATION_TTL = timedelta(days=14)
# Scores at or below these ask the assistant to call the patient back.
LOW_SCORE = {SurveyScale.FIVE: 2, SurveyScale.TEN: 6}
SCORE_RANGE = {SurveyScale.FIVE: range(1, 6), SurveyScale.TEN: range(0, 11)}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def survey_save(
    *, clinic, title: str, question: str, scale: int = 5, is_active=True, survey=None
) -> Survey:
    title, question = (title or "").strip(), (question or "").strip()
    errors = {}
    if not title:
        errors["title"] = [_("Enter a title.")]
    if not question:
        errors["question"] = [_("Enter the question.")]
    if scale not in SurveyScale.values:
        errors["scale"] = [_("The scale is 1 to 5 or 0 to 10.")]
    if errors:
        raise ValidationError(errors)
    redline_ensure(clinic=clinic, text=f"{title}\n{question}", field="question")
    survey = survey or Survey(clinic=clinic)
    survey.title, survey.question, survey.scale, survey.is_active = (
        title,
        question,
        scale,
        is_active,
    )
    survey.save()
    return survey


def survey_link(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("content:survey_public", args=[token])


# The invitation's text: the composer fills {姓名} {诊所} and the tracked {链接}.
INVITATION_TEXT = gettext_noop(
    "{姓名}, thank you for visiting {诊所}. %(question)s Tap to answer: {链接}"
)


@transaction.atomic
def survey_invite(*, survey: Survey, patient, by=None) -> SurveyInvitation:
    """Invite one patient: a new link (valid 14 days), the "sent" touch, and — when the
    patient has a WeCom contact, consents and has a staff sender — the message with the link
    in the outbox. `invitation.link` holds the link once (only its hash is stored)."""
    if patient.clinic_id != survey.clinic_id:
        raise ValidationError({"patient": [_("The patient is not of this clinic.")]})
    if not survey.is_active:
        raise ValidationError({"survey": [_("This survey is switched off.")]})
    # A survey invitation is a care message: the audience rule says whether and from whom.
    sender, exclusion = audience.audience_check(patient=patient, purpose=audience.Purpose.CARE)
    return _invitation_make(
        survey=survey, patient=patient, sender="" if exclusion else sender, by=by
    )


def _invitation_text(survey: Survey) -> str:
    # The survey's own question is the clinic's text: braces in it are not variables.
    question = survey.question.replace("{", "（").replace("}", "）")
    return _(INVITATION_TEXT) % {"question": question}


def _invitation_make(
    *, survey: Survey, patient, sender: str, by=None, channel=None
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
    touch_record(
        patient=patient,
        kind=TouchKind.SURVEY,
        channel=channel or (TouchChannel.WECOM if invitation.delivery_id else TouchChannel.SYSTEM),
        actor=by,
        summary=worded(gettext_noop("Survey sent: %(title)s"), title=survey.title),
        payload={"event": "sent", "survey_id": survey.pk, "invitation_id": invitation.pk},
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
        SurveyInvitation.objects.select_related("survey", "patient", "clinic")
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


def survey_answer(
    *, invitation: SurveyInvitation, score, comment: str = ""
) -> tuple[SurveyInvitation, bool]:
    """Record the answer; (invitation, False) when the link was answered before — the first
    answer is kept. A low score asks the assistant for service recovery. What staff read (the
    timeline, the recovery task) is in the clinic's language, not the patient's browser's."""
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        invitation = (
            SurveyInvitation.objects.select_for_update()
            .select_related("survey", "patient__clinic")
            .get(pk=invitation.pk)
        )
        if invitation.answered_at is not None:
            return invitation, False
        if timezone.now() >= invitation.expires_at:
            raise ValidationError(_("This survey link has expired."))
        survey = invitation.survey
        try:
            score = int(score)
        except (TypeError, ValueError):
            score = None
        if score not in SCORE_RANGE[survey.scale]:
            valid = SCORE_RANGE[survey.scale]
            raise ValidationError(
                {
                    "score": [
                        _("Choose a score from %(low)s to %(high)s.")
                        % {"low": valid[0], "high": valid[-1]}
                    ]
                }
            )
        comment = (comment or "").strip()[:2000]
        invitation.score, invitation.comment = score, comment
        invitation.answered_at = timezone.now()
        invitation.save(update_fields=["score", "comment", "answered_at"])
        patient = invitation.patient
        ids = {"survey_id": survey.pk, "invitation_id": invitation.pk}
        summary = worded(
            gettext_noop("Survey answered: %(score)s/%(scale)s"), score=score, scale=survey.scale
        )
        if comment:
            summary = worded(gettext_noop("%(entry)s %(comment)s"), entry=summary, comment=comment)
        touch_record(
            patient=patient,
            kind=TouchKind.SURVEY,
            summary=summary,
            payload={"event": "answered", "score": score, "scale": survey.scale, **ids},
        )
        if score <= LOW_SCORE[survey.scale]:
            _service_recovery(invitation, patient, score)
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
    invitation = _invitation_make(
        survey=survey, patient=task.patient, sender="", by=None, channel=TouchChannel.WECOM
    )
    return invitation.link
