"""What a staff change means for doctor IP (crm.services.staff_changed, listed in
settings.STAFF_CHANGE_HANDLERS): whoever becomes a doctor of the clinic has a profile from then
on, so the doctor IP pages only read. A profile stays when its doctor leaves or changes role:
its posts, accounts and positioning history are the clinic's. Doctors of clinics from before
this rule got theirs in migration doctors 0004."""

from crm.models import DOCTOR_ROLES
from doctors.models import DoctorProfile


def staff_changed(*, membership, change: str) -> None:
    if change in ("created", "role", "reactivated") and membership.role in DOCTOR_ROLES:
        DoctorProfile.objects.bulk_create(
            [DoctorProfile(clinic_id=membership.clinic_id, user_id=membership.user_id)],
            ignore_conflicts=True,  # doctorprofile_one_per_doctor: they had one already
        )
