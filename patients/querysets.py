"""How patients are searched and narrowed (Patient.objects)."""

from collections.abc import Callable

from django.contrib.postgres.fields import ArrayField
from django.db import connections, models
from django.db.models.functions import Upper
from django.utils import timezone

from crm import crypto
from patients.choices import NOT_CONTACT_KINDS, Stage, TouchKind

# Conditions on a patient that the apps above patients define over their own rows: name ->
# function(an OuterRef to the patient's pk) -> an Exists. Each app registers its own in its
# AppConfig.ready() (patient_condition_register); patients never names their models or values.
PATIENT_CONDITIONS: dict[str, Callable[[models.expressions.OuterRef], models.Exists]] = {}


def patient_condition_register(name: str, condition) -> None:
    PATIENT_CONDITIONS[name] = condition


class NameBigrams(models.Func):
    """PostgreSQL: a text's distinct character pairs (migration 0005's careloop_bigrams)."""

    function = "careloop_bigrams"
    output_field = ArrayField(models.TextField())


class PatientQuerySet(models.QuerySet):
    def search(self, text):
        """Name, pinyin initials, the last 4 digits of the phone, or the full number."""
        from patients.phones import PhoneError, normalize_phone

        text = (text or "").strip()
        if not text:
            return self
        digits = text.replace(" ", "").replace("-", "")
        if digits.isdigit() and len(digits) == 4:
            return self.filter(phone_last4=digits)
        if digits.lstrip("+").isdigit() and len(digits) >= 7:
            try:
                return self.filter(phone_hash__in=crypto.lookup_hashes(normalize_phone(digits)))
            except PhoneError:
                return self.none()
        initials = models.Q(name_initials__startswith=text.lower())
        if len(text) == 2 == len(text.upper()) and connections[self.db].vendor == "postgresql":
            # Same matches as icontains, but from the bigram index (trigrams need 3 characters).
            return self.alias(_bigrams=NameBigrams(Upper("name"))).filter(
                models.Q(_bigrams__contains=[text.upper()]) | initials
            )
        return self.filter(models.Q(name__icontains=text) | initials)

    def tagged_any(self, tag_ids):
        """Patients carrying any of these tags."""
        tag_ids = sorted({int(tag_id) for tag_id in tag_ids})
        if not tag_ids:
            return self.none()
        if connections[self.db].vendor == "postgresql":
            # Patient.tag_ids and its GIN index (migration 0007): a popular tag's patients are
            # a bitmap, not a join of its hundreds of thousands of TaggedPatient rows.
            match = models.Q()
            for tag_id in tag_ids:
                match |= models.Q(tag_ids__contains=[tag_id])
            return self.filter(match)
        from patients.models import TaggedPatient  # defined after this queryset

        tagged = TaggedPatient.objects.filter(tag_id__in=tag_ids).values("content_object_id")
        return self.filter(pk__in=tagged)

    def meeting(self, condition: str, present=True):
        """Patients meeting (present=False: not meeting) a condition an app above patients
        registered over its own rows (PATIENT_CONDITIONS)."""
        try:
            exists = PATIENT_CONDITIONS[condition](models.OuterRef("pk"))
        except KeyError:
            raise LookupError(f"no app registered the patient condition {condition!r}") from None
        return self.filter(exists if present else ~exists)

    def with_open_followups(self, present=True):
        """Patients with (present=False: without) an open follow-up task: the follow-ups app's
        condition `open_followups` (registered in followups/apps.py)."""
        return self.meeting("open_followups", present)

    def active(self):
        return self.exclude(stage=Stage.CHURNED)

    def contactable(self):
        return self.active().filter(consent_to_contact=True)

    def contact_lost(self):
        """Churned because no WeCom contact with the clinic's staff is left (wechat's
        contact_lost writes a churn signal with contacts_left 0, then the stage change), and
        not back since: a win-back candidate."""
        from patients.models import Touch  # defined after this queryset

        lost = Touch.objects.filter(
            patient=models.OuterRef("pk"),
            kind=TouchKind.CHURN_SIGNAL,
            payload__contacts_left=0,
            occurred_at__gte=models.OuterRef("stage_changed_at"),
        )
        return self.filter(models.Exists(lost), stage=Stage.CHURNED)

    def at_risk(self, *, days=90, today=None):
        """Not churned, with neither a visit nor any contact in the last `days` days; and the
        patients who deleted the clinic on WeCom (contact_lost), whatever their last visit.
        A contact is a touch of the patient: a churn signal or a stage change is not one."""
        from datetime import datetime, time, timedelta

        from patients.models import Touch  # defined after this queryset

        today = today or timezone.localdate()
        cutoff = today - timedelta(days=days)
        since = datetime.combine(cutoff, time.min, tzinfo=timezone.get_current_timezone())
        recent_touch = Touch.objects.filter(
            patient=models.OuterRef("pk"), occurred_at__gte=since
        ).exclude(kind__in=NOT_CONTACT_KINDS)
        silent = (
            self.active()
            .filter(models.Q(last_visit_date__isnull=True) | models.Q(last_visit_date__lt=cutoff))
            .exclude(models.Exists(recent_touch))
        )
        return silent | self.contact_lost()
