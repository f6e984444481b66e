"""The content app's writes, in one importable place. The rules live in the modules by
domain (redline, templating, articles, campaigns, messages, surveys, referrals); other apps
import from here:

    from content.services import redline_check, render, survey_invite
"""

from content.articles import (  # noqa: F401
    article_create,
    article_link,
    article_set_status,
    article_update,
    article_view_record,
    markdown_to_safe_html,
)
from content.campaigns import (  # noqa: F401
    campaign_cancel,
    campaign_preview,
    campaign_results,
    campaign_save,
    campaign_schedule,
    campaign_start,
    campaigns_due_ids,
    campaigns_settle,
)
from content.messages import patient_message_check, patient_message_send  # noqa: F401
from content.redline import (  # noqa: F401
    RedLineHit,
    content_settings_for,
    content_settings_update,
    emergency_notice_append,
    redline_check,
    redline_checker,
    redline_ensure,
    redline_phrase_save,
)
from content.referrals import referral_code_create  # noqa: F401
from content.surveys import (  # noqa: F401
    survey_answer,
    survey_invite,
    survey_invite_many,
    survey_save,
)
from content.templates_service import message_template_save  # noqa: F401
from content.templating import render, template_validate  # noqa: F401
