"""Pages a patient opens from WeCom on a phone: no login; the link itself is the key."""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from content import articles, surveys
from content.surveys import InvitationState


def _problem(request, *, title, message, status):
    return render(
        request,
        "content/public_problem.html",
        {"title": title, "message": message},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def article_public(request, token):
    article, patient_id = articles.article_from_link(token)
    if article is None:
        return _problem(
            request,
            title=_("Article not available"),
            message=_("This article does not exist or is no longer published."),
            status=404,
        )
    if patient_id is not None and request.method == "GET":
        articles.article_view_record(article=article, patient_id=patient_id)
    return render(
        request,
        "content/article_public.html",
        {"article": article, "body_html": articles.markdown_to_safe_html(article.body)},
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def article_tracked(request, token):
    """A tracked link from a message: the article, and the read counted (a GET without a
    staff session: a link preview's HEAD is not a read, nor a colleague checking the link).
    The page shows the article only: no name, no script."""
    link, state = articles.tracked_link_open(token)
    if state == articles.LinkState.INVALID:
        return _problem(
            request,
            title=_("Link not valid"),
            message=_(
                "This link is not valid. Please open it exactly as you received it, or ask "
                "the clinic to send it again."
            ),
            status=404,
        )
    if state == articles.LinkState.EXPIRED:
        return _problem(
            request,
            title=_("Link expired"),
            message=_("This article link has expired. The clinic can send you the article again."),
            status=410,
        )
    if state == articles.LinkState.UNPUBLISHED:
        return _problem(
            request,
            title=_("Article not available"),
            message=_("This article does not exist or is no longer published."),
            status=404,
        )
    # A signed-in staff member checking the link (from the timeline, the sender's copy) is
    # not the patient reading it.
    if request.method == "GET" and not request.user.is_authenticated:
        articles.tracked_link_read(link=link)
    article = link.article
    return render(
        request,
        "content/article_public.html",
        {"article": article, "body_html": articles.markdown_to_safe_html(article.body)},
    )


# The link is the credential and the form has no session: a CSRF cookie would only stop
# patients whose WeCom browser drops cookies. The answer is idempotent per link.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def survey_public(request, token):
    invitation, state = surveys.invitation_for_token(token)
    if state == InvitationState.INVALID:
        return _problem(
            request,
            title=_("Link not valid"),
            message=_(
                "This survey link is not valid. Please open the link exactly as you received "
                "it, or ask the clinic for a new one."
            ),
            status=404,
        )
    if state == InvitationState.EXPIRED:
        return _problem(
            request,
            title=_("Link expired"),
            message=_(
                "This survey link has expired. Thank you all the same; the clinic can send "
                "you a new one."
            ),
            status=410,
        )
    context = {"invitation": invitation, "survey": invitation.survey}
    if state == InvitationState.ANSWERED:
        if request.method == "POST":
            context["notice"] = _(
                "You had already answered this survey; we kept your first answer."
            )
        return render(request, "content/survey_thanks.html", context)
    survey = invitation.survey
    questions = surveys.survey_questions(survey)
    posted, errors = {}, {}
    if request.method == "POST":
        posted = {q.pk: request.POST.getlist(f"q{q.pk}") for q in questions}
        try:
            invitation, first = surveys.survey_answer(invitation=invitation, answers=posted)
        except ValidationError as error:
            if not hasattr(error, "error_dict"):  # expired between opening and submitting
                return _problem(
                    request,
                    title=_("Link expired"),
                    message=_("This survey link has expired."),
                    status=410,
                )
            errors = error.message_dict
        else:
            context["invitation"] = invitation
            if not first:
                context["notice"] = _(
                    "You had already answered this survey; we kept your first answer."
                )
            return render(request, "content/survey_thanks.html", context)
    scores = [str(n) for n in surveys.SCORE_RANGE[survey.scale]]
    context["questions"] = [
        {
            "question": q,
            "n": n,
            "name": f"q{q.pk}",
            "values": [str(v) for v in posted.get(q.pk, [])],
            "errors": errors.get(f"q{q.pk}", []),
            "scores": scores,
        }
        for n, q in enumerate(questions, start=1)
    ]
    context["has_errors"] = bool(errors)
    return render(request, "content/survey_public.html", context, status=400 if errors else 200)
