"""Every doctor gets a profile when they become one (doctors.staff); the doctors of clinics from
before then get theirs here, as the doctor IP pages used to make them on a GET."""

from django.db import migrations


def profiles_for_every_doctor(apps, schema_editor):
    Membership = apps.get_model("crm", "Membership")
    DoctorProfile = apps.get_model("doctors", "DoctorProfile")
    have = DoctorProfile.objects.values_list("clinic_id", "user_id")
    have = set(have)
    missing = [
        DoctorProfile(clinic_id=clinic_id, user_id=user_id)
        for clinic_id, user_id in Membership.objects.filter(role="doctor").values_list(
            "clinic_id", "user_id"
        )
        if (clinic_id, user_id) not in have
    ]
    DoctorProfile.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0011_audit_actions_signin"),
        ("doctors", "0003_clinic_in_unique_constraints"),
    ]

    operations = [migrations.RunPython(profiles_for_every_doctor, migrations.RunPython.noop)]
