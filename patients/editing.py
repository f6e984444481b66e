"""Who may change which profile field: the one rule, asked by patients.services.patient_update
for the patient page, the API (`PATCH /api/patients/{id}/`) and Django admin alike.

Fields come in groups; each group names the capability that lets a member change it. Setting fields when a
patient is created is not limited by this table (a nurse adds a patient to one of her wards,
crm's API rule)."""

FIELD_GROUPS = {
    # Who the patient is and how to reach them: the front desk's record.
    "identity": ("name", "gender", "birth_date", "phone", "source", "source_detail", "referred_by"),
    # Who looks after the patient.
    "care_team": ("assigned_doctor", "assigned_assistant"),
    # Where the patient lies: the ward and bed.
    "placement": ("ward", "bed_number"),
    "consent": (
        "consent_to_contact",
        "consent_care_how",
        "consent_marketing",
        "consent_marketing_how",
    ),
    "remarks": ("notes",),
    # The WeCom contact is linked by WeCom's callbacks; by hand only an administrator fixes it.
    "wecom": ("external_userid",),
}

# The capability (crm.capabilities) that lets a member change each group; None: every member.
GROUP_CAPABILITIES = {
    "identity": "edit_patients",
    "care_team": "edit_patients",
    "placement": "place_patients",
    "consent": "edit_patients",
    "remarks": None,
    "wecom": "manage_clinic",
}

EDITABLE_FIELDS = tuple(f for fields in FIELD_GROUPS.values() for f in fields)


def patient_editable_fields(membership) -> frozenset[str]:
    """The profile fields this staff member may change (none without a membership)."""
    if membership is None:
        return frozenset()
    return frozenset(
        field
        for group, fields in FIELD_GROUPS.items()
        if GROUP_CAPABILITIES[group] is None or membership.can(GROUP_CAPABILITIES[group])
        for field in fields
    )


def can_merge_patients(membership) -> bool:
    """Merging rewrites who a record is: the roles that may change identity fields."""
    return membership is not None and membership.can(GROUP_CAPABILITIES["identity"])
