"""One message to one patient: GET /api/patients/{id}/message/ says whether the patient can
be sent a message now (and from whose WeCom account); POST puts one in the outbox.

In content, not in patients' API: patients never imports wechat or content."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from content.articles import article_publishable_clean
from content.messages import patient_message_check, patient_message_send
from content.models import ExclusionReason, MessageTemplate
from crm.api import DateField
from crm.models import Membership
from patients.selectors import patients_visible_to


class MessageSendSerializer(serializers.Serializer):
    template = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="a message template of the clinic"
    )
    token = serializers.CharField(
        max_length=64,
        help_text="random, 16-64 of A-Z a-z 0-9 _ -, made by the form: the same token again "
        "sends nothing more and answers the first message",
    )
    text = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="the preview as edited; without it the template's text is sent",
    )
    revisit_date = DateField(required=False, help_text="fills {复诊日期}")
    article = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="a published article of the clinic: its tracked link for this patient fills "
        "{链接} (appended when the text has none); the first read goes on the timeline",
    )


class BlockedSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ExclusionReason.choices)
    label = serializers.CharField()


class MessageStateSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    can_send = serializers.BooleanField(help_text="whether the signed-in member may send")
    blocked = BlockedSerializer(allow_null=True, help_text="why the patient gets nothing now")
    sender_name = serializers.CharField(help_text="whose WeCom account would send it")


class MessageQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the outbox row (Delivery)")
    status = serializers.CharField()
    status_display = serializers.CharField()
    text = serializers.CharField()
    sender_name = serializers.CharField()
    created = serializers.BooleanField(help_text="false: this token had already sent it")
    confirm_in_wecom = serializers.CharField(
        help_text="what happens next: the sender confirms the message in WeCom"
    )
    result = serializers.CharField(
        help_text="the patient's result as WeCom reports it: pending (awaiting the staff "
        "member's confirmation), delivered, not_contact, daily_limit, unconfirmed, failed"
    )


class PatientMessageView(generics.GenericAPIView):
    serializer_class = MessageSendSerializer

    def get_queryset(self):
        return patients_visible_to(self.request.membership).select_related("clinic")

    def _sender_name(self, wecom_userid: str) -> str:
        if not wecom_userid:
            return ""
        member = (
            Membership.objects.filter(clinic=self.request.clinic, wecom_userid=wecom_userid)
            .select_related("user")
            .first()
        )
        return member.name if member else wecom_userid

    @extend_schema(responses=MessageStateSerializer)
    def get(self, request, pk):
        patient = self.get_object()
        sender, exclusion = patient_message_check(patient=patient, by=request.user)
        blocked = None
        if exclusion:
            blocked = {"reason": exclusion, "label": str(ExclusionReason(exclusion).label)}
        return Response(
            {
                "patient": patient.pk,
                "can_send": request.membership.can_send_messages,
                "blocked": blocked,
                "sender_name": self._sender_name(sender),
            }
        )

    @extend_schema(
        request=MessageSendSerializer,
        responses={201: MessageQueuedSerializer, 200: MessageQueuedSerializer},
        description="Queue one customer message from a template; 200 if the token sent it.",
    )
    def post(self, request, pk):
        # The patient first: one a member may not see is a 404 whatever their role.
        patient = self.get_object()
        if not request.membership.can_send_messages:  # as the templates' preview
            raise exceptions.PermissionDenied(_("Your role cannot send messages to patients."))
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template = MessageTemplate.objects.filter(
            clinic=request.clinic, pk=data["template"]
        ).first()
        if template is None:  # another clinic's template looks nonexistent
            raise exceptions.NotFound(_("No such message template."))
        extra = {"复诊日期": data["revisit_date"]} if data.get("revisit_date") else None
        article = article_publishable_clean(clinic=request.clinic, article_id=data.get("article"))
        delivery, created = patient_message_send(
            article=article,
            patient=patient,
            template=template,
            token=data["token"],
            text=data.get("text"),
            extra=extra,
            by=request.user,
        )
        sender_name = self._sender_name(delivery.sender)
        result = delivery.recipient_rows.values_list("status", flat=True).first()
        body = {
            "id": delivery.pk,
            "status": delivery.status,
            "status_display": delivery.get_status_display(),
            "text": delivery.body,
            "sender_name": sender_name,
            "created": created,
            "confirm_in_wecom": _(
                "WeCom sends it once %(sender)s confirms it in their WeCom client "
                "(客户联系 → 群发助手); they get an app message about it."
            )
            % {"sender": sender_name},
            "result": result or "pending",
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
