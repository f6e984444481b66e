"""Staff pages for content. Thin: forms in, services do the work, errors shown in place."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from content import selectors
from content.articles import (
    article_create,
    article_link,
    article_publishable_clean,
    article_set_status,
    article_update,
    markdown_to_safe_html,
)
from content.campaigns import (
    campaign_cancel,
    campaign_preview,
    campaign_results,
    campaign_save,
    campaign_schedule,
)
from content.forms import (
    ArticleForm,
    CampaignForm,
    ContentSettingsForm,
    MessageTemplateForm,
    RedLinePhraseForm,
    ScheduleForm,
    SurveyEditor,
    SurveyForm,
    SurveyInviteForm,
)
from content.models import (
    Article,
    ArticleStatus,
    Campaign,
    CampaignStatus,
    MessageTemplate,
    QuestionKind,
    Survey,
)
from content.segments import segment_clean, segment_patients
from content.surveys import (
    LOW_SCORE,
    subject_label,
    survey_invite_many,
    survey_questions_problems,
    survey_save,
)
from content.templates_service import message_template_save
from crm.forms import form_add_service_errors
from crm.tenancy import clinic_member_required, get_for_clinic
from patients.selectors import patients_visible_to
from wechat.demo import demo_enabled
from wechat.models import RedLinePhrase
from wechat.redline import content_settings_get, content_settings_update, redline_phrase_save


def _errors_to_form(form, error: ValidationError) -> None:
    """Show a service's errors on the form's fields; an unbound form (a button press, not
    the form) gets them as its page-level problems."""
    if not form.is_bound:
        form.problems = error.messages
        return
    form_add_service_errors(form, error)


def _page(request, template, **context):
    context.setdefault("section", template.rsplit("/", 1)[-1].split("_")[0])
    return render(request, template, context)


# Articles ----------------------------------------------------------------------------------


@clinic_member_required
@require_http_methods(["GET", "POST"])
def articles(request):
    form = ArticleForm(request.POST or None, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        try:
            article = article_create(
                clinic=request.clinic,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                author=request.user,
                tags=form.cleaned_data["disease_tags"],
            )
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("content:article", pk=article.pk)
    rows = selectors.article_stats(clinic=request.clinic)
    return _page(request, "content/articles_page.html", form=form, articles=rows)


@clinic_member_required
@require_http_methods(["GET", "POST"])
def article(request, pk):
    article = get_for_clinic(Article.objects, request.clinic, pk=pk)
    initial = {
        "title": article.title,
        "body": article.body,
        "disease_tags": list(article.disease_tags.all()),
    }
    form = ArticleForm(
        request.POST if "save" in request.POST else None, initial=initial, clinic=request.clinic
    )
    if request.method == "POST":
        try:
            if "save" in request.POST and form.is_valid():
                article_update(
                    article=article,
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["body"],
                    tags=form.cleaned_data["disease_tags"],
                )
                messages.success(request, _("Saved."))
                return redirect("content:article", pk=article.pk)
            if request.POST.get("status"):
                article_set_status(article=article, status=request.POST["status"], by=request.user)
                messages.success(request, _("Status changed."))
                return redirect("content:article", pk=article.pk)
        except ValidationError as error:
            _errors_to_form(form, error)
            article.refresh_from_db()
    return _page(
        request,
        "content/articles_detail.html",
        form=form,
        article=article,
        body_html=markdown_to_safe_html(article.body),
        public_link=article_link(article=article)
        if article.status == ArticleStatus.PUBLISHED
        else "",
        readers=selectors.article_readers(article=article)[:50],
        statuses=ArticleStatus,
        section="articles",
    )


# Message templates -------------------------------------------------------------------------


@clinic_member_required
@require_http_methods(["GET", "POST"])
def templates(request):
    form = MessageTemplateForm(request.POST or None)
    can_edit = request.membership.can_send_messages
    if request.method == "POST" and can_edit and form.is_valid():
        try:
            message_template_save(clinic=request.clinic, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("Template saved."))
            return redirect("content:templates")
    rows = MessageTemplate.objects.filter(clinic=request.clinic)
    return _page(
        request,
        "content/templates_page.html",
        form=form,
        templates=rows,
        can_edit=can_edit,
    )


# Campaigns ---------------------------------------------------------------------------------


@clinic_member_required
@require_http_methods(["GET", "POST"])
def campaigns(request):
    form = CampaignForm(request.POST or None, clinic=request.clinic)
    can_send = request.membership.can_send_messages
    if request.method == "POST" and can_send and form.is_valid():
        try:
            campaign = campaign_save(
                clinic=request.clinic,
                name=form.cleaned_data["name"],
                body=form.cleaned_data["body"],
                segment=form.segment(),
                by=request.user,
                article=article_publishable_clean(
                    clinic=request.clinic, article_id=form.cleaned_data["article"]
                ),
            )
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            return redirect("content:campaign", pk=campaign.pk)
    rows = Campaign.objects.filter(clinic=request.clinic)[:100]
    return _page(
        request, "content/campaigns_page.html", form=form, campaigns=rows, can_send=can_send
    )


@clinic_member_required
@require_http_methods(["GET", "POST"])
def campaign(request, pk):
    campaign = get_for_clinic(Campaign.objects, request.clinic, pk=pk)
    schedule = ScheduleForm(request.POST if "send" in request.POST else None)
    can_send = request.membership.can_send_messages
    if request.method == "POST" and can_send:
        try:
            if "send" in request.POST and schedule.is_valid():
                campaign_schedule(
                    campaign=campaign, send_at=schedule.cleaned_data["send_at"], by=request.user
                )
                messages.success(request, _("The campaign is scheduled."))
                return redirect("content:campaign", pk=campaign.pk)
            if "cancel" in request.POST:
                campaign_cancel(campaign=campaign, by=request.user)
                return redirect("content:campaign", pk=campaign.pk)
        except ValidationError as error:
            _errors_to_form(schedule, error)
    context = {"campaign": campaign, "schedule": schedule, "can_send": can_send}
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        context["preview"] = campaign_preview(
            clinic=request.clinic, segment=campaign.segment, body=campaign.body
        )
    else:
        context["results"] = campaign_results(campaign=campaign)
    if campaign.status == CampaignStatus.AWAITING and demo_enabled():
        # The demo's fake WeCom: each sender's "confirm in WeCom", one click.
        context["demo_senders"] = sorted(
            set(campaign.recipients.filter(included=True).values_list("sender", flat=True))
        )
    return _page(request, "content/campaigns_detail.html", section="campaigns", **context)


# Surveys -----------------------------------------------------------------------------------


@clinic_member_required
@require_http_methods(["GET", "POST"])
def surveys(request):
    can_edit = request.membership.can_send_messages
    visible = patients_visible_to(request.membership)
    invite_form = SurveyInviteForm(
        request.POST if request.method == "POST" else None, clinic=request.clinic, patients=visible
    )
    invite_result, status = None, 200
    if request.method == "POST" and not can_edit:
        status = 403
    elif request.method == "POST":
        if invite_form.is_valid():
            data = invite_form.cleaned_data
            survey = get_for_clinic(Survey.objects, request.clinic, pk=data["survey"])
            try:
                chosen = visible.filter(pk__in=data["patients"] or [])
                segment = invite_form.segment()
                if segment:
                    in_segment = segment_patients(
                        clinic=request.clinic, segment=segment_clean(segment)
                    )
                    chosen = visible.filter(
                        Q(pk__in=chosen.values("pk")) | Q(pk__in=in_segment.values("pk"))
                    )
                invite_result = survey_invite_many(survey=survey, patients=chosen, by=request.user)
            except ValidationError as error:
                _errors_to_form(invite_form, error)
                status = 400
            else:
                invite_result.survey = survey
        else:
            status = 400
    rows = [
        (survey, selectors.survey_summary(survey=survey))
        for survey in Survey.objects.filter(clinic=request.clinic).prefetch_related("questions")
    ]
    response = _page(
        request,
        "content/surveys_page.html",
        invite_form=invite_form,
        invite_result=invite_result,
        surveys=rows,
        can_edit=can_edit,
    )
    response.status_code = status
    return response


def _survey_editor(request, survey=None):
    """New survey and edit survey: the survey's fields and its question rows. The row buttons
    (add, move, remove) re-show the page with the rows changed; 保存 saves them all."""
    if not request.membership.can_send_messages:
        raise PermissionDenied
    initial = (
        {"title": survey.title, "scale": survey.scale, "is_active": survey.is_active}
        if survey
        else None
    )
    posted = request.method == "POST"
    form = SurveyForm(request.POST if posted else None, initial=initial)
    if posted:
        editor = SurveyEditor.from_post(request.POST)
    else:
        editor = SurveyEditor.from_survey(survey) if survey else SurveyEditor.new()
    problems, status = [], 200
    op = request.POST.get("op", "save") if posted else ""
    if posted and not editor.apply(op):
        if form.is_valid():
            try:
                saved = survey_save(
                    clinic=request.clinic,
                    survey=survey,
                    questions=editor.questions(),
                    **form.cleaned_data,
                )
            except ValidationError as error:
                status = 400
                if hasattr(error, "error_dict"):
                    listed = error.error_dict.pop("questions", [])
                    problems = [m for e in listed for m in e.messages]
                    if error.error_dict:
                        _errors_to_form(form, error)
                else:
                    problems = error.messages
            else:
                messages.success(request, _("Survey saved."))
                return redirect("content:survey", pk=saved.pk)
        else:
            problems = survey_questions_problems(questions=editor.questions(), survey=survey)
            status = 400
    elif posted:
        form = SurveyForm(initial=request.POST.dict() | {"is_active": "is_active" in request.POST})
    response = _page(
        request,
        "content/survey_edit.html",
        form=form,
        survey=survey,
        rows=editor.rows,
        row_count=len(editor.rows),
        problems=problems,
        kinds=QuestionKind.choices,
        low_scores={str(k): v for k, v in LOW_SCORE.items()},
        section="surveys",
    )
    response.status_code = status
    return response


@clinic_member_required
@require_http_methods(["GET", "POST"])
def survey_new(request):
    return _survey_editor(request)


@clinic_member_required
@require_http_methods(["GET", "POST"])
def survey_edit(request, pk):
    survey = get_for_clinic(Survey.objects, request.clinic, pk=pk)
    return _survey_editor(request, survey)


@clinic_member_required
@require_http_methods(["GET"])
def survey(request, pk):
    """A survey's results per question, over the answers of the patients the user sees."""
    survey = get_for_clinic(Survey.objects, request.clinic, pk=pk)
    results = selectors.survey_results(
        survey=survey, patients=patients_visible_to(request.membership)
    )
    recent = [(invitation, subject_label(invitation)) for invitation in results["recent"]]
    return _page(
        request,
        "content/survey_results.html",
        survey=survey,
        results=results,
        recent=recent,
        summary=selectors.survey_summary(survey=survey),
        low_score=LOW_SCORE[survey.scale],
        can_edit=request.membership.can_send_messages,
        section="surveys",
    )


# Red lines ---------------------------------------------------------------------------------


@clinic_member_required
@require_http_methods(["GET", "POST"])
def redlines(request):
    can_edit = request.membership.can_edit_content
    form = RedLinePhraseForm(request.POST or None)
    if request.method == "POST" and can_edit and form.is_valid():
        try:
            redline_phrase_save(clinic=request.clinic, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("Phrase added."))
            return redirect("content:redlines")
    rows = RedLinePhrase.objects.filter(clinic=request.clinic)
    settings = content_settings_get(clinic=request.clinic)
    settings_form = None
    if request.membership.can_manage_clinic:
        settings_form = ContentSettingsForm(
            initial={f: getattr(settings, f) for f in ContentSettingsForm.base_fields}
        )
    return _page(
        request,
        "content/redlines_page.html",
        form=form,
        phrases=rows,
        can_edit=can_edit,
        settings=settings,
        settings_form=settings_form,
    )


@clinic_member_required(capability="manage_clinic")
@require_http_methods(["GET", "POST"])
def content_settings(request):
    settings = content_settings_get(clinic=request.clinic)
    form = ContentSettingsForm(
        request.POST or None,
        initial={f: getattr(settings, f) for f in ContentSettingsForm.base_fields},
    )
    if request.method == "POST" and form.is_valid():
        try:
            content_settings_update(clinic=request.clinic, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("content:redlines")
    return _page(request, "content/settings_page.html", form=form, section="redlines")


@clinic_member_required(capability="edit_content")
@require_POST
def redline_toggle(request, pk):
    row = get_for_clinic(RedLinePhrase.objects, request.clinic, pk=pk)
    redline_phrase_save(
        clinic=request.clinic,
        phrase=row.phrase,
        reason=row.reason,
        is_active=not row.is_active,
        instance=row,
    )
    return redirect("content:redlines")
