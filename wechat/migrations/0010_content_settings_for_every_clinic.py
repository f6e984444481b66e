"""Every clinic's sending rules and default red lines are made when the clinic is set up
(wechat.redline.clinic_setup); clinics from before get theirs here, as the red-line pages used to
make them on a GET. A clinic that has its settings row already has been seeded."""

from django.db import migrations


def content_settings_for_every_clinic(apps, schema_editor):
    from wechat.redline import DEFAULT_RED_LINES  # the defaults of today: a constant

    Clinic = apps.get_model("crm", "Clinic")
    ContentSettings = apps.get_model("wechat", "ContentSettings")
    RedLinePhrase = apps.get_model("wechat", "RedLinePhrase")
    for clinic in Clinic.objects.exclude(
        pk__in=ContentSettings.objects.values_list("clinic_id", flat=True)
    ).iterator():
        ContentSettings.objects.create(clinic=clinic)
        RedLinePhrase.objects.bulk_create(
            [RedLinePhrase(clinic=clinic, phrase=p, reason=r) for p, r in DEFAULT_RED_LINES],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0011_audit_actions_signin"),
        ("wechat", "0009_delivery_recipient_excluded"),
    ]

    operations = [
        migrations.RunPython(content_settings_for_every_clinic, migrations.RunPython.noop)
    ]
