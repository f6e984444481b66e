"""Care-plan step texts: {name} {doctor} {clinic} {date} become {姓名} {医生} {诊所} {复诊日期},
the one placeholder syntax of the composer (wechat.composer)."""

import re

from django.db import migrations

LEGACY = {"name": "姓名", "doctor": "医生", "clinic": "诊所", "date": "复诊日期", "link": "链接"}
VARIABLE = re.compile(r"\{([^{}\n]{1,20})\}")


def _chinese(text):
    return VARIABLE.sub(
        lambda m: "{" + LEGACY[m.group(1)] + "}" if m.group(1) in LEGACY else m.group(0), text
    )


def forwards(apps, schema_editor):
    Version = apps.get_model("followups", "CarePlanTemplateVersion")
    for version in Version.objects.iterator():
        steps = version.steps or []
        changed = False
        for step in steps:
            message = step.get("message") if isinstance(step, dict) else None
            if message and _chinese(message) != message:
                step["message"] = _chinese(message)
                changed = True
        if changed:
            Version.objects.filter(pk=version.pk).update(steps=steps)


class Migration(migrations.Migration):
    dependencies = [("followups", "0003_followuptask_patient_open")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
