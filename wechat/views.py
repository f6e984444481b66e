"""Pages (channel codes, WeCom settings) and the callback endpoint. Thin: services do the work."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.forms import form_add_service_errors
from crm.tenancy import clinic_member_required, get_for_clinic
from wechat import callbacks, demo, selectors
from wechat.accounts import wecom_account_configure
from wechat.channels import channel_code_create, channel_code_retire, channel_code_update
from wechat.forms import ChannelCodeForm, WeComSettingsForm
from wechat.models import ChannelCode, ChannelCodeKind, WeComAccount


@csrf_exempt
def callback(request, slug):
    """WeCom's callback: GET verifies the URL, POST delivers an event. Verify, store, answer."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    account = callbacks.account_for_callback(slug=slug)
    try:
        if request.method == "GET":
            text = callbacks.callback_verify_url(account=account, params=request.GET)
            return HttpResponse(text, content_type="text/plain")
        body = request.read(callbacks.MAX_BODY_BYTES + 1)
        callbacks.callback_receive(account=account, params=request.GET, body=body)
    except callbacks.CallbackError as exc:
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    return HttpResponse("success", content_type="text/plain")


# The channel codes page's quality figures: the dashboard's default period, the last year.
QUALITY_PERIOD_DAYS = 365


@clinic_member_required
def channel_codes(request):
    clinic = request.clinic
    codes = selectors.channel_code_rows(clinic=clinic)
    # Clinic-wide figures, as on the dashboard: not for nurses (their view is their wards).
    quality_period = None
    if request.membership.can_see_clinic_figures:
        end = timezone.localdate()
        start = end - timedelta(days=QUALITY_PERIOD_DAYS - 1)
        quality_period = {"start": start, "end": end}
        figures = {
            r["id"]: r for r in selectors.channel_code_figures(clinic=clinic, start=start, end=end)
        }
        for row in codes:
            row["quality"] = figures.get(row["code"].pk)
    return render(
        request,
        "wechat/channel_codes.html",
        {
            "codes": codes,
            "quality_period": quality_period,
            "account": WeComAccount.objects.filter(clinic=clinic).first(),
            "can_edit": request.membership.can_edit_channel_codes,
            "demo": demo.demo_enabled(),
            "arrivals": selectors.recent_arrivals(clinic=clinic),
        },
    )


@clinic_member_required
def recent_arrivals(request):
    """The "recent arrivals" panel, refreshed by the page while a simulated scan is processed."""
    return render(
        request,
        "wechat/_arrivals.html",
        {"arrivals": selectors.recent_arrivals(clinic=request.clinic)},
    )


@clinic_member_required(capability="edit_channel_codes")
def channel_code_new(request):
    clinic = request.clinic
    form = ChannelCodeForm(request.POST or None, clinic=clinic)
    if request.method == "POST" and form.is_valid():
        try:
            code = channel_code_create(clinic=clinic, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("Channel code “%(name)s” created.") % {"name": code.name})
            return redirect("wechat:channel_codes")
    return render(request, "wechat/channel_code_form.html", {"form": form})


def _own_channel_code(request, pk):
    """A channel code of the request's clinic that this page manages: another clinic's code,
    or a referral or post code (made and shown on their own pages), is a 404."""
    queryset = ChannelCode.objects.filter(kind=ChannelCodeKind.CHANNEL).select_related("clinic")
    return get_for_clinic(queryset, request.clinic, pk=pk)


@clinic_member_required(capability="edit_channel_codes")
def channel_code_edit(request, pk):
    code = _own_channel_code(request, pk)
    initial = {
        "name": code.name,
        "staff": list(code.staff.all()),
        "tags": list(code.tags.all()),
        "stage": code.stage,
        "welcome_text": code.welcome_text,
        "link_title": code.link_title,
        "link_url": code.link_url,
        "link_desc": code.link_desc,
    }
    form = ChannelCodeForm(request.POST or None, clinic=request.clinic, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            code = channel_code_update(code=code, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("Channel code “%(name)s” saved.") % {"name": code.name})
            return redirect("wechat:channel_codes")
    return render(request, "wechat/channel_code_form.html", {"form": form, "code": code})


@require_POST
@clinic_member_required(capability="edit_channel_codes")
def channel_code_retire_view(request, pk):
    code = _own_channel_code(request, pk)
    try:
        channel_code_retire(code=code)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("wechat:channel_code_edit", pk=code.pk)
    messages.success(
        request,
        _("Channel code “%(name)s” retired: WeCom deleted its QR code.") % {"name": code.name},
    )
    return redirect("wechat:channel_codes")


@require_POST
@clinic_member_required(capability="edit_channel_codes")
def channel_code_simulate(request, pk):
    code = get_for_clinic(ChannelCode.objects.select_related("clinic"), request.clinic, pk=pk)
    try:
        result = demo.demo_scan(code=code)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.get("status") == 200:
            messages.success(
                request,
                _(
                    "A simulated patient scanned “%(name)s”; they appear under recent arrivals in a moment."
                )
                % {"name": code.name},
            )
        else:
            messages.error(
                request,
                _("CareLoop refused the simulated callback (HTTP %(status)s).")
                % {"status": result.get("status")},
            )
    return redirect(reverse("wechat:channel_codes") + f"?scanned={code.pk}")


@require_POST
@clinic_member_required(capability="send_messages")
def simulate_confirm(request):
    """Demo only: a staff member confirms their waiting mass messages in the fake WeCom."""
    userid = request.POST.get("userid", "")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    try:
        confirmed = demo.demo_confirm(clinic=request.clinic, userid=userid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(userid)s confirmed %(n)s mass messages in WeCom (simulated).")
            % {"userid": userid, "n": len(confirmed)},
        )
    return redirect(back)


@clinic_member_required(capability="manage_clinic")
def wecom_settings(request):
    clinic = request.clinic
    account = WeComAccount.objects.filter(clinic=clinic).first()
    initial = {"welcome_text": WeComAccount._meta.get_field("welcome_text").default}
    if account:
        initial = {
            "corp_id": account.corp_id,
            "agent_id": account.agent_id,
            "welcome_text": account.welcome_text,
        }
    form = WeComSettingsForm(
        request.POST or None, initial=initial, stored=selectors.stored_secrets(account)
    )
    if request.method == "POST" and form.is_valid():
        try:
            account = wecom_account_configure(clinic=clinic, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("WeCom settings saved."))
            return redirect("wechat:settings")
    return render(
        request,
        "wechat/settings.html",
        {
            "form": form,
            "account": account,
            "callback_url": callbacks.callback_url(clinic=clinic),
        },
    )


# Customer groups (客户群) ------------------------------------------------------------------


@clinic_member_required
def groups(request):
    """The clinic's customer groups: members, disease tag, a group message."""
    from patients.models import PatientTag
    from wechat.groupchats import group_messages
    from wechat.models import GroupChat, GroupChatStatus

    clinic = request.clinic
    rows = [
        {"group": g, "messages": group_messages(group=g, limit=3)}
        for g in GroupChat.objects.filter(clinic=clinic, status=GroupChatStatus.ACTIVE)
        .select_related("disease_tag")
        .order_by("name", "pk")
    ]
    return render(
        request,
        "wechat/groups.html",
        {
            "rows": rows,
            "tags": PatientTag.objects.filter(clinic=clinic).order_by("name"),
            "account": WeComAccount.objects.filter(clinic=clinic).first(),
            "can_send": request.membership.can("send_messages"),
            "can_edit": request.membership.can("manage_clinic"),
        },
    )


@require_POST
@clinic_member_required(capability="manage_clinic")
def groups_sync(request):
    from django.db import transaction

    from wechat.tasks import groupchats_sync_task

    account = get_for_clinic(WeComAccount.objects, request.clinic)
    transaction.on_commit(lambda: groupchats_sync_task.delay(account.pk), robust=True)
    messages.success(request, _("The customer groups are being synced from WeCom."))
    return redirect("wechat:groups")


@require_POST
@clinic_member_required(capability="manage_clinic")
def group_tag(request, pk):
    from patients.models import PatientTag
    from wechat.models import GroupChat

    group = get_for_clinic(GroupChat.objects, request.clinic, pk=pk)
    tag_id = request.POST.get("disease_tag") or ""
    if tag_id and not tag_id.isdigit():
        messages.error(request, _("Choose a tag of this clinic."))
        return redirect("wechat:groups")
    group.disease_tag = (
        get_for_clinic(PatientTag.objects, request.clinic, pk=tag_id) if tag_id else None
    )
    group.save(update_fields=["disease_tag"])
    messages.success(request, _("The group's disease tag was saved."))
    return redirect("wechat:groups")


@require_POST
@clinic_member_required(capability="send_messages")
def group_message(request, pk):
    from wechat.groupchats import group_message_send
    from wechat.models import GroupChat

    group = get_for_clinic(GroupChat.objects, request.clinic, pk=pk)
    try:
        group_message_send(group=group, text=request.POST.get("body", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("wechat:groups")
    messages.success(
        request,
        _(
            "The group message waits for the group owner to confirm it in WeCom (客户联系 → 群发助手)."
        ),
    )
    return redirect("wechat:groups")


# The WeCom staff directory (通讯录) -----------------------------------------------------------


@clinic_member_required(capability="manage_clinic")
def directory(request):
    from wechat.directory import directory_review

    review = directory_review(clinic=request.clinic)
    return render(
        request,
        "wechat/directory.html",
        {**review, "account": WeComAccount.objects.filter(clinic=request.clinic).first()},
    )


@require_POST
@clinic_member_required(capability="manage_clinic")
def directory_sync_view(request):
    from wechat import transport
    from wechat.directory import directory_sync

    account = get_for_clinic(WeComAccount.objects, request.clinic)
    try:
        report = directory_sync(account=account)
    except transport.WeComError as exc:
        messages.error(request, _("WeCom did not answer the directory: %(error)s") % {"error": exc})
        return redirect("wechat:directory")
    messages.success(
        request,
        _("Directory synced: %(seen)s staff in WeCom, %(gone)s gone since the last sync.")
        % {"seen": report.seen, "gone": report.gone},
    )
    return redirect("wechat:directory")


@require_POST
@clinic_member_required(capability="edit_channel_codes")
def channel_code_link(request, pk):
    """A customer-acquisition link (获客助手) for the code."""
    from wechat.channels import channel_code_link_create

    code = get_for_clinic(ChannelCode.objects, request.clinic, pk=pk)
    try:
        channel_code_link_create(code=code)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("The acquisition link of “%(name)s” is ready.") % {"name": code.name}
        )
    return redirect("wechat:channel_codes")
