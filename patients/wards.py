"""Writes to wards (病区). Which patients a nurse sees is read in selectors.patients_visible_to."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm.models import Membership, Role
from patients.models import Ward


@transaction.atomic
def ward_save(*, ward: Ward, name: str | None = None, nurses: Iterable[Membership] | None = None):
    """Create or rename a ward and (when given) set its nurses: nurses of the ward's clinic."""
    if name is not None:
        ward.name = name.strip()
    if not ward.name:
        raise ValidationError({"name": [_("Enter the ward's name.")]})
    if Ward.objects.filter(clinic_id=ward.clinic_id, name=ward.name).exclude(pk=ward.pk).exists():
        raise ValidationError({"name": [_("This clinic already has a ward of this name.")]})
    if nurses is not None:
        nurses = list(nurses)
        if any(m.clinic_id != ward.clinic_id or m.role != Role.NURSE for m in nurses):
            raise ValidationError({"nurses": [_("Only nurses of this clinic can staff a ward.")]})
    try:
        with transaction.atomic():
            ward.save()
    except IntegrityError as exc:  # a concurrent save took the name
        raise ValidationError(
            {"name": [_("This clinic already has a ward of this name.")]}
        ) from exc
    if nurses is not None:
        ward.nurses.set(nurses)
    return ward
