"""Summary tables behind the retention dashboard (issue 9): derived rows, rebuilt per clinic by
`patients.dashboard.summaries.summaries_refresh` (a Celery beat job), never written by hand. At a million
patients the live figures scan every patient with a correlated subquery per row; these tables
hold each patient's facts once so a figure is one index range scan.

Patient attributes the filters use (doctor, source, created_at, stage) are copied in, so a figure
never joins back to the patient table; they are as fresh as the last refresh, which the dashboard
shows ("数据更新于 …")."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.models import Clinic

# The journey's stages (patients.choices.JOURNEY), spelled out: patients/models.py imports
# this module.
JOURNEY_STAGES = (
    "lead",
    "converted",
    "booked",
    "arrived",
    "consulted",
    "dispensed",
    "after_visit",
    "maintained",
)


class RetentionFact(models.Model):
    """One row per patient: what the figures need to know about them."""

    # Foreign keys without database constraints or extra indexes: the refresh inserts a
    # million rows at once, and per-row FK checks tripled its time. Deletes still cascade
    # (Django cascades in Python), and the next refresh rebuilds the clinic anyway.
    patient = models.OneToOneField(
        "patients.Patient",
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    clinic = models.ForeignKey(
        Clinic, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    # No database constraint: the refresh copies ids in bulk and the doctor may be removed
    # between refreshes; a stale id only narrows a doctor filter until the next refresh.
    assigned_doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    source = models.CharField(max_length=20)
    stage = models.CharField(max_length=20)
    referred_by = models.ForeignKey(
        "patients.Patient",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField()
    first_visit = models.DateField(null=True)
    # The first visit on a later day than first_visit: revisited within w days iff
    # second_visit <= first_visit + w, for any window the dashboard asks for.
    second_visit = models.DateField(null=True)
    last_touch_at = models.DateTimeField(null=True)
    # The later of the last visit and the last touch (local date): at risk after d days iff
    # it is null or before today - d.
    last_active = models.DateField(null=True)
    # Journey stages ever reached (a StageTransition into them), for the funnel.
    reached_lead = models.BooleanField(default=False)
    reached_converted = models.BooleanField(default=False)
    reached_booked = models.BooleanField(default=False)
    reached_arrived = models.BooleanField(default=False)
    reached_consulted = models.BooleanField(default=False)
    reached_dispensed = models.BooleanField(default=False)
    reached_after_visit = models.BooleanField(default=False)
    reached_maintained = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Revisit rate, source channels' revisits and cohort sizes: first visits in a period.
            models.Index(
                fields=["clinic", "first_visit"],
                include=["second_visit", "source", "assigned_doctor", "patient"],
                name="fact_clinic_first_visit",
                condition=models.Q(first_visit__isnull=False),
            ),
            # Referral rate, source channels' new patients and the funnel: created in a period.
            # Covering, so these figures are index-only scans (the refresh vacuums).
            models.Index(
                fields=["clinic", "created_at"],
                include=[
                    "patient",
                    "referred_by",
                    "source",
                    "assigned_doctor",
                    "stage",
                    *(f"reached_{stage}" for stage in JOURNEY_STAGES),
                ],
                name="fact_clinic_created",
            ),
            # At risk: the count is a range on last_active, the list the longest silent first.
            models.Index(
                fields=["clinic", "last_active"],
                name="fact_clinic_active",
                condition=~models.Q(stage="churned"),
            ),
            # Top referrers: only the referred patients created in a period.
            models.Index(
                fields=["clinic", "created_at"],
                include=["referred_by"],
                name="fact_clinic_referred",
                condition=models.Q(referred_by__isnull=False),
            ),
            # The at-risk list, longest silent first. Plain ascending (SQLite has no NULLS FIRST
            # in an index): the never-contacted are read first, by their own IS NULL scan.
            models.Index(
                fields=["clinic", "last_touch_at", "patient"],
                name="fact_clinic_silent",
                condition=~models.Q(stage="churned"),
            ),
        ]

    def __str__(self):
        return f"facts of patient {self.patient_id}"


class CohortMonth(models.Model):
    """One row per patient and calendar month with a visit: the monthly cohorts' activity."""

    clinic = models.ForeignKey(
        Clinic, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    assigned_doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    source = models.CharField(max_length=20)
    first_visit = models.DateField()  # the patient's, which places them in a period
    cohort = models.DateField()  # the month of the patient's first visit (its 1st)
    month = models.DateField()  # the month of these visits (its 1st)
    visits = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "patient", "month"], name="cohortmonth_patient_month"
            )
        ]
        indexes = [
            # Cohort retention: the cohorts whose first month falls in the period.
            models.Index(
                fields=["clinic", "first_visit"],
                include=[
                    "cohort",
                    "month",
                    "visits",
                    "amount",
                    "source",
                    "assigned_doctor",
                    "patient",
                ],
                name="cohortmonth_clinic_cohort",
            )
        ]

    def __str__(self):
        return f"patient {self.patient_id} in {self.month:%Y-%m}"


class SummaryRefresh(models.Model):
    """When a clinic's summaries were last rebuilt, and how long it took."""

    clinic = models.OneToOneField(
        Clinic, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    refreshed_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    patients = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"clinic {self.clinic_id} summaries at {self.refreshed_at:%Y-%m-%d %H:%M}"


class DailyFigure(models.Model):
    """Per clinic, day and source channel, the counts the dashboard sums over a period: a year
    is a few thousand of these rows instead of a million facts. Each count is keyed by its own
    day: by creation day `created`, `referred`, `now_<stage>` (at the stage now),
    `reached_<stage>` and `pair_<stage>` (reached it and the next), `never_active` (not churned,
    no visit or touch ever); by first-visit day `first` and `revisited_90`; by last-active day
    `silent` (not churned), so "at risk after d days" is silent before today - d plus never
    active; by the survey touch's day `survey_sent`, `survey_answered`, `survey_scored` (a valid
    score) and `survey_score_centi` (their sum on the 5-point scale, in hundredths).

    `tag` NULL: every patient of the clinic. A tag: a second set of rows counting only the
    patients who carry it (a patient counted under each of their tags), so a tag filter sums
    its own rows instead of joining the facts to the tag's patients."""

    clinic = models.ForeignKey(
        Clinic, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    # Nothing to do when a tag is deleted: no filter can name it any more, and the next
    # refresh drops its rows (a cascade would scan the table, no index leads with tag).
    tag = models.ForeignKey(
        "patients.PatientTag",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    day = models.DateField()
    source = models.CharField(max_length=20)
    created = models.PositiveIntegerField(default=0)
    referred = models.PositiveIntegerField(default=0)
    now_lead = models.PositiveIntegerField(default=0)
    now_converted = models.PositiveIntegerField(default=0)
    now_booked = models.PositiveIntegerField(default=0)
    now_arrived = models.PositiveIntegerField(default=0)
    now_consulted = models.PositiveIntegerField(default=0)
    now_dispensed = models.PositiveIntegerField(default=0)
    now_after_visit = models.PositiveIntegerField(default=0)
    now_maintained = models.PositiveIntegerField(default=0)
    now_churned = models.PositiveIntegerField(default=0)
    reached_lead = models.PositiveIntegerField(default=0)
    reached_converted = models.PositiveIntegerField(default=0)
    reached_booked = models.PositiveIntegerField(default=0)
    reached_arrived = models.PositiveIntegerField(default=0)
    reached_consulted = models.PositiveIntegerField(default=0)
    reached_dispensed = models.PositiveIntegerField(default=0)
    reached_after_visit = models.PositiveIntegerField(default=0)
    reached_maintained = models.PositiveIntegerField(default=0)
    pair_lead = models.PositiveIntegerField(default=0)
    pair_converted = models.PositiveIntegerField(default=0)
    pair_booked = models.PositiveIntegerField(default=0)
    pair_arrived = models.PositiveIntegerField(default=0)
    pair_consulted = models.PositiveIntegerField(default=0)
    pair_dispensed = models.PositiveIntegerField(default=0)
    pair_after_visit = models.PositiveIntegerField(default=0)
    never_active = models.PositiveIntegerField(default=0)
    first = models.PositiveIntegerField(default=0)
    revisited_90 = models.PositiveIntegerField(default=0)
    silent = models.PositiveIntegerField(default=0)
    survey_sent = models.PositiveIntegerField(default=0)
    survey_answered = models.PositiveIntegerField(default=0)
    survey_scored = models.PositiveIntegerField(default=0)
    survey_score_centi = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The refresh's key, and the figures' index: a figure reads a period's rows of one
            # tag (or none). NULLS NOT DISTINCT, or the clinic-wide rows (tag NULL) could be
            # duplicated.
            models.UniqueConstraint(
                fields=["clinic", "tag", "day", "source"],
                nulls_distinct=False,
                name="dailyfigure_unique",
            )
        ]

    def __str__(self):
        return f"{self.day} {self.source} tag {self.tag_id}"


# The counts of DailyFigure, in the refresh's column order.
DAILY_MEASURES = [
    f.name for f in DailyFigure._meta.concrete_fields if isinstance(f, models.PositiveIntegerField)
]


class CohortDay(models.Model):
    """The cohorts' activity summed per clinic, first-visit day, source and visit month: the
    unfiltered cohort table without reading a row per patient. `tag` as in DailyFigure."""

    clinic = models.ForeignKey(
        Clinic, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    tag = models.ForeignKey(
        "patients.PatientTag",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    first_visit = models.DateField()
    source = models.CharField(max_length=20)
    month = models.DateField()
    patients = models.PositiveIntegerField()
    visits = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [
            # The refresh's upsert key and the cohort table's index (NULLS NOT DISTINCT: see
            # DailyFigure).
            models.UniqueConstraint(
                fields=["clinic", "tag", "first_visit", "source", "month"],
                include=["patients", "visits", "amount"],
                nulls_distinct=False,
                name="cohortday_unique",
            )
        ]

    def __str__(self):
        return f"{self.first_visit} {self.source} {self.month:%Y-%m}"
