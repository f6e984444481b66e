"""What a new clinic starts with: the tag groups every department uses (editable later), and
what the apps above patients set up (settings.CLINIC_SETUP_STEPS: the sending rules and red
lines), so that no page makes them on a GET."""

from importlib import import_module

from django.conf import settings
from django.db import transaction

from crm.models import Clinic
from patients.models import PatientTag, TagGroup

DEFAULT_TAG_GROUPS = [
    # (name, kind, single choice, tags)
    (
        "病种",
        "disease",
        False,
        ["甲状腺结节", "肺结节", "乳腺结节", "糖尿病", "高血压", "备孕", "颈椎病", "失眠"],
    ),
    ("手术", "surgery", False, ["术后", "甲状腺切除术", "肺结节切除术", "乳腺微创手术"]),
    ("严重程度", "severity", True, ["轻度", "中度", "重度"]),
    ("来源", "source", True, ["门诊", "病房", "小红书", "抖音", "老患者介绍"]),
]


@transaction.atomic
def clinic_setup_defaults(*, clinic: Clinic) -> None:
    """A new clinic starts with the tag groups every department uses (editable later), then
    each of settings.CLINIC_SETUP_STEPS sets up its app's rows."""
    for position, (name, kind, single, tag_names) in enumerate(DEFAULT_TAG_GROUPS):
        group, _created = TagGroup.objects.get_or_create(
            clinic=clinic,
            name=name,
            defaults={"kind": kind, "is_single_choice": single, "position": position},
        )
        for tag_name in tag_names:
            PatientTag.objects.get_or_create(
                clinic=clinic, name=tag_name, defaults={"group": group}
            )
    for path in settings.CLINIC_SETUP_STEPS:
        import_module(path).clinic_setup(clinic=clinic)
