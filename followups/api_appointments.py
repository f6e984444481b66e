"""/api/appointments/ (list, create, the status actions) and /api/appointment-figures/ (the
dashboard's no-show rate). Scoped as every endpoint: the clinic, a nurse's wards."""

import django_filters
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import Role
from crm.selectors import staff_names
from followups import appointments, clock, services
from followups.api_figures import FigureQuerySerializer
from followups.appointment_models import Appointment, AppointmentKind, AppointmentStatus
from patients.api import VisiblePatientField
from patients.models import Patient


class ClinicDoctorField(serializers.PrimaryKeyRelatedField):
    """A doctor of the request's clinic, by user id; anyone else is refused in words."""

    default_error_messages = {
        "does_not_exist": _("Choose a doctor of this clinic."),
        "incorrect_type": _("Choose a doctor of this clinic."),
    }

    def get_queryset(self):
        return get_user_model().objects.filter(
            memberships__clinic=self.context["request"].clinic, memberships__role=Role.DOCTOR
        )


class AppointmentSerializer(serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    doctor = ClinicDoctorField()
    # A time without an offset (the page's datetime-local input) is clinic wall-clock time.
    start = serializers.DateTimeField(default_timezone=clock.clinic_tz())
    doctor_name = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=AppointmentKind.choices, default=AppointmentKind.REVISIT)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient",
            "patient_name",
            "doctor",
            "doctor_name",
            "start",
            "kind",
            "kind_display",
            "status",
            "status_display",
            "notes",
            "cancel_reason",
            "reminder_state",
            "visit",
            "task",
            "created_at",
        ]
        read_only_fields = ["status", "cancel_reason", "reminder_state", "visit", "task"]
        read_only_fields += ["created_at"]

    def get_doctor_name(self, appointment) -> str:
        if not hasattr(self, "_names"):  # one query per response, not per row
            self._names = staff_names(appointment.clinic_id)
        return self._names.get(appointment.doctor_id) or appointment.doctor.get_username()


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, label=_("Reason"))


class AppointmentFilter(django_filters.FilterSet):
    """`date_from` / `date_to`: clinic days, both included."""

    date_from = django_filters.DateFilter(method="filter_from", label=_("From (day)"))
    date_to = django_filters.DateFilter(method="filter_to", label=_("To (day)"))
    status = django_filters.MultipleChoiceFilter(choices=AppointmentStatus.choices)

    class Meta:
        model = Appointment
        fields = ["patient", "doctor", "status", "kind"]

    def filter_from(self, queryset, name, value):
        return queryset.filter(start__gte=clock.day_bounds(value)[0])

    def filter_to(self, queryset, name, value):
        return queryset.filter(start__lt=clock.day_bounds(value)[1])


class AppointmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Appointments of the patients the caller may see, by time. POST books one (the patient
    moves to 预约); `arrive`, `no-show` and `cancel` change a booked one."""

    serializer_class = AppointmentSerializer
    filterset_class = AppointmentFilter
    ordering_fields = ["start", "id"]
    write_capability = "change_appointments"
    queryset = Appointment.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return appointments.appointments_visible_to(self.request.membership).order_by("start", "id")

    def perform_create(self, serializer):
        serializer.instance = services.appointment_book(
            by=self.request.user, **serializer.validated_data
        )

    def _answer(self, appointment):
        return Response(self.get_serializer(appointment).data)

    @extend_schema(request=None, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"])
    def arrive(self, request, pk=None):
        return self._answer(
            services.appointment_arrive(appointment=self.get_object(), by=request.user)
        )

    @extend_schema(request=None, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request, pk=None):
        return self._answer(
            services.appointment_no_show(appointment=self.get_object(), by=request.user)
        )

    @extend_schema(request=CancelSerializer, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        appointment = self.get_object()
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(
            services.appointment_cancel(
                appointment=appointment, by=request.user, reason=data.validated_data["reason"]
            )
        )


APPOINTMENT_FIGURES_SCHEMA = inline_serializer(
    "AppointmentFigures",
    {
        "period": inline_serializer(
            "AppointmentFiguresPeriod",
            {"start": serializers.DateField(), "end": serializers.DateField()},
        ),
        "due": serializers.IntegerField(
            help_text="Appointments whose time fell in the period and has come, cancelled left out."
        ),
        "no_show": serializers.IntegerField(),
        "arrived": serializers.IntegerField(),
        "unmarked": serializers.IntegerField(help_text="Due but still booked (not marked)."),
        "no_show_rate": serializers.FloatField(allow_null=True, help_text="no_show / due"),
    },
)


class AppointmentFiguresView(APIView):
    """The no-show rate (爽约率) of the user's clinic from `start` to `end` (whole clinic days,
    both included), optionally of one doctor's appointments."""

    capability = "see_clinic_figures"

    @extend_schema(parameters=[FigureQuerySerializer], responses=APPOINTMENT_FIGURES_SCHEMA)
    def get(self, request):
        params = {k: v for k, v in request.query_params.items() if v != ""}
        query = FigureQuerySerializer(data=params, context={"request": request})
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        figures = appointments.no_show_figures(
            clinic=request.clinic,
            start=clock.day_bounds(start)[0],
            end=clock.day_bounds(end)[1],
            doctor=query.validated_data.get("doctor"),
        )
        return Response(
            {"period": {"start": start, "end": end}, **figures}, status=status.HTTP_200_OK
        )
