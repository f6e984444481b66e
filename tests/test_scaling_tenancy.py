"""The road to a database split by clinic (docs/scaling.md, Citus): every tenant table carries
`clinic`, and every unique rule on it includes the clinic, so that each clinic's rows can live
on one node and each unique check stays on that node. Walks every model of ours: a new model
or constraint that breaks the rule fails here, and a gap that is closed must leave the list."""

from django.apps import apps
from django.db import models

OUR_APPS = {"crm", "patients", "wechat", "followups", "content", "doctors"}

# Tables that are not split by clinic, and why (docs/scaling.md says the same).
NOT_TENANT_TABLES = {
    # The distribution root: split by its own id (each clinic's row with its data).
    "crm.Clinic": "distributed by id",
    # Small and read on every request before the clinic is known: copied to every node.
    "crm.Membership": "reference",
    # WeCom's limits are per corp and app, not per clinic; coordinator-only.
    "wechat.RateBucket": "local",
    # One row per scan over the whole timeline; coordinator-only.
    "wechat.TimelineCursor": "local",
    "followups.TriggerCursor": "local",
}

# Known steps of the move (docs/scaling.md, step 2), not yet taken. Each is a rule a split
# database would refuse; listed so that nothing new joins them.
KNOWN_GAPS = {
    # django-taggit's through table: written by our services, but it has no clinic column.
    ("patients.TaggedPatient", "no clinic column"),
    ("patients.TaggedPatient", "taggedpatient_unique"),
    # The primary key is the patient (one row each); a split table needs (clinic, patient).
    ("patients.RetentionFact", "patient"),
    # One-to-one links: unique on the other row's id alone.
    ("doctors.Post", "channel_code"),
    ("doctors.Onboarding", "profile"),
    # The public link's token is looked up before the clinic is known.
    ("content.SurveyInvitation", "token_hash"),
}


def our_models():
    for model in apps.get_models():
        if model._meta.app_label in OUR_APPS and model._meta.managed:
            yield model


def unique_rules(model):
    """(name, fields) of every unique rule but the id: unique fields, one-to-ones, unique
    constraints (conditional ones too), unique_together."""
    for field in model._meta.concrete_fields:
        if field.unique and not (field.primary_key and isinstance(field, models.AutoField)):
            yield field.name, (field.name,)
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            yield constraint.name, tuple(constraint.fields) or ("<expressions>",)
    for fields in model._meta.unique_together:
        yield "unique_together", tuple(fields)


def tenancy_gaps():
    gaps = set()
    for model in our_models():
        label = model._meta.label
        if label in NOT_TENANT_TABLES:
            continue
        names = {f.name for f in model._meta.concrete_fields}
        if "clinic" not in names:
            gaps.add((label, "no clinic column"))
        for name, fields in unique_rules(model):
            if "clinic" not in fields:
                gaps.add((label, name))
    return gaps


def test_every_tenant_table_has_the_clinic_in_it_and_in_each_unique_rule():
    gaps = tenancy_gaps()
    assert gaps - KNOWN_GAPS == set(), "new tables or rules that a split by clinic would refuse"


def test_the_known_gaps_are_still_gaps():
    # A gap closed (the clinic added) must leave the list, so the list says what is left.
    assert KNOWN_GAPS - tenancy_gaps() == set()


def test_the_clinic_column_is_required_on_every_tenant_table():
    for model in our_models():
        if model._meta.label in NOT_TENANT_TABLES:
            continue
        field = next((f for f in model._meta.concrete_fields if f.name == "clinic"), None)
        if field is None:
            continue  # a known gap, above
        assert not field.null, model._meta.label
        assert field.related_model._meta.label == "crm.Clinic", model._meta.label


def test_the_walk_sees_the_tables_it_should():
    labels = {model._meta.label for model in our_models()}
    assert {"patients.Patient", "wechat.Delivery", "followups.FollowUpTask"} <= labels
    assert set(NOT_TENANT_TABLES) <= labels
    assert len(labels) >= 45
