"""Who may do what: one named capability per question, each granted to a set of roles.

Pages (`crm.tenancy.clinic_member_required(capability=…)`), the API (`crm.api.IsClinicMember`
with a view's `capability` / `write_capability`), templates (`membership.can_<name>`) and
services (`membership.can(name)`) all ask these names; no code compares roles for a permission.
Which patients a member sees is another question (`patients.selectors.patients_visible_to`), and
so is who may change which patient field (`patients.editing`, which names these capabilities).

=====================  =====  ======  =========  =====  ==========  ==========================
capability             admin  doctor  assistant  nurse  operations  what it allows
=====================  =====  ======  =========  =====  ==========  ==========================
reveal_phone           ✓      ✓       –          –      –           a patient's full number
                                                                    (audited), full-phone
                                                                    exports
call                   ✓      ✓       ✓          ✓      –           dial a patient from a
                                                                    follow-up task
see_clinical           ✓      ✓       ✓          ✓      –           clinical timeline entries,
                                                                    visit amounts and notes
see_clinic_figures     ✓      ✓       ✓          –      ✓           the dashboard and every
                                                                    clinic-wide figure
manage_clinic          ✓      –       –          –      –           settings, staff, audit log,
                                                                    API tokens, PIPL export and
                                                                    erasure, sending rules,
                                                                    care plan templates, wards,
                                                                    Django admin, undo others'
                                                                    ticks
edit_patients          ✓      –       ✓          –      –           a patient's identity, care
                                                                    team and consent; merging
place_patients         ✓      –       ✓          ✓      –           a patient's ward and bed
import_patients        ✓      –       ✓          –      –           the patient import
send_messages          ✓      ✓       ✓          –      ✓           message templates,
                                                                    campaigns, surveys, one
                                                                    message, referral codes
edit_content           ✓      –       –          –      ✓           the red-line phrases
publish_articles       ✓      ✓       –          –      ✓           publish an article
start_plans            ✓      ✓       ✓          ✓      –           start and change care plans
change_appointments    ✓      ✓       ✓          ✓      –           book, move and cancel
                                                                    appointments
edit_channel_codes     ✓      –       ✓          –      ✓           channel codes
see_doctor_ip          ✓      ✓       –          –      ✓           the doctor IP pages and API
manage_doctor_ip       ✓      –       –          –      ✓           the operations home,
                                                                    onboarding, a post's code
manage_patient_fields  ✓      –       –          –      –           the clinic's patient
                                                                    fields (定义字段)
edit_patient_fields    ✓      ✓       ✓          ✓      –           a patient's values of the
                                                                    clinic's fields (手术日期)
=====================  =====  ======  =========  =====  ==========  ==========================

docs/security.md's role × capability table is this one; tests/test_capabilities.py checks both.
"""

from crm.models import Role

ADMIN, DOCTOR, ASSISTANT, NURSE, OPERATIONS = (
    Role.ADMIN,
    Role.DOCTOR,
    Role.ASSISTANT,
    Role.NURSE,
    Role.OPERATIONS,
)

CAPABILITIES: dict[str, frozenset[str]] = {
    "reveal_phone": frozenset({ADMIN, DOCTOR}),
    "call": frozenset({ADMIN, DOCTOR, ASSISTANT, NURSE}),
    "see_clinical": frozenset({ADMIN, DOCTOR, ASSISTANT, NURSE}),
    # Nurses see their wards only; the figures cover every ward.
    "see_clinic_figures": frozenset({ADMIN, DOCTOR, ASSISTANT, OPERATIONS}),
    "manage_clinic": frozenset({ADMIN}),
    "edit_patients": frozenset({ADMIN, ASSISTANT}),
    "place_patients": frozenset({ADMIN, ASSISTANT, NURSE}),
    "import_patients": frozenset({ADMIN, ASSISTANT}),
    "send_messages": frozenset({ADMIN, DOCTOR, ASSISTANT, OPERATIONS}),
    "edit_content": frozenset({ADMIN, OPERATIONS}),
    "publish_articles": frozenset({ADMIN, DOCTOR, OPERATIONS}),
    "start_plans": frozenset({ADMIN, DOCTOR, ASSISTANT, NURSE}),
    "change_appointments": frozenset({ADMIN, DOCTOR, ASSISTANT, NURSE}),
    "edit_channel_codes": frozenset({ADMIN, ASSISTANT, OPERATIONS}),
    "see_doctor_ip": frozenset({ADMIN, DOCTOR, OPERATIONS}),
    "manage_doctor_ip": frozenset({ADMIN, OPERATIONS}),
    "manage_patient_fields": frozenset({ADMIN}),
    # The clinic's fields are clinical as often as not (手术日期): the care roles set them.
    "edit_patient_fields": frozenset({ADMIN, DOCTOR, ASSISTANT, NURSE}),
}


def capability_check(name: str) -> str:
    """`name` if it is a capability; a typo fails where it is written, not as a silent 403."""
    if name not in CAPABILITIES:
        raise ImproperlyConfiguredCapability(name)
    return name


def role_can(role: str, name: str) -> bool:
    return role in CAPABILITIES[capability_check(name)]


def roles_with(name: str) -> frozenset[str]:
    """The roles that have capability `name`."""
    return CAPABILITIES[capability_check(name)]


class ImproperlyConfiguredCapability(LookupError):
    def __init__(self, name):
        super().__init__(f"Unknown capability {name!r}; crm/capabilities.py lists them.")
