from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Clinics and staff")

    def ready(self):
        from django.db import models
        from rest_framework.serializers import ModelSerializer

        from crm.api import DateField

        # Model date fields in the API take dates from 1900 to 2100 only (crm.api.DateField).
        ModelSerializer.serializer_field_mapping[models.DateField] = DateField
        from crm import signin  # noqa: F401  the sign-in audit's signal receivers
