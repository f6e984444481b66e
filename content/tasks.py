"""Small tasks taking ids; the work is in content's services."""

from celery import shared_task

from content import campaigns


@shared_task(acks_late=True, ignore_result=True)
def campaign_start_task(campaign_id: int) -> str:
    return campaigns.campaign_start(campaign_id=campaign_id)


@shared_task(ignore_result=True)
def campaigns_scan() -> int:
    """Beat: start every campaign whose time has come (and finish interrupted ones), and mark
    sent those whose every patient has WeCom's final result. The database says what is
    due; no ETA tasks."""
    due = campaigns.campaigns_due_ids()
    for campaign_id in due:
        campaign_start_task.delay(campaign_id)
    campaigns.campaigns_settle()
    return len(due)
