"""A campaign to 2,000 patients of 3 senders against the fake WeCom (its limits on): how many
add_msg_template calls, the time until every task is in WeCom (queued, awaiting the staff's
confirmation) and the time until every patient has WeCom's final result, the confirmations
done by the fake's control calls (POST /_fake/confirm as each staff member).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_h1 \\
    REDIS_URL=redis://127.0.0.1:6380/3 CELERY_BROKER_URL=redis://127.0.0.1:6380/2 \\
    DEBUG=1 LOG_LEVEL=WARNING .venv/bin/python bench/mass_campaign_bench.py [--patients 2000]

It migrates that database and replaces its own clinic (slug bench-mass). The Celery tasks run
in this process (task_always_eager): the schedule's start task, the outbox's senders and the
results poll are the same code a worker runs. Figures go to stdout and bench/results/.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402

from content.campaigns import campaign_results, campaign_save, campaign_schedule, campaigns_settle  # noqa: E402
from content.models import Campaign, CampaignStatus  # noqa: E402
from crm.celery import app  # noqa: E402
from crm.models import Clinic, Membership, Role  # noqa: E402
from patients.models import Patient  # noqa: E402
from wechat import services as outbox  # noqa: E402
from wechat.fake import serve_in_thread  # noqa: E402
from wechat.models import Delivery, DeliveryStatus, RateBucket  # noqa: E402

SENDERS = ("bench-zhuli-a", "bench-zhuli-b", "bench-zhuli-c")


def setup(fake, n):
    call_command("migrate", verbosity=0)
    Clinic.objects.filter(slug="bench-mass").delete()
    get_user_model().objects.filter(username__in=SENDERS).delete()
    RateBucket.objects.all().delete()
    clinic = Clinic.objects.create(slug="bench-mass", name="群发压测诊所")
    outbox.wecom_account_configure(
        clinic=clinic, corp_id="ww-bench", agent_id="1000002", secret="bench-secret"
    )
    users = []
    for userid in SENDERS:
        user = get_user_model().objects.create_user(username=userid)
        Membership.objects.create(
            user=user, clinic=clinic, role=Role.ASSISTANT, wecom_userid=userid
        )
        users.append(user)
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                name=f"患者{i:05d}",
                external_userid=f"wm-bench-{i:05d}",
                assigned_assistant=users[i % len(users)],
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    for i, patient in enumerate(patients):
        fake.add_contact(userid=SENDERS[i % len(SENDERS)], external_userid=patient.external_userid)
    return clinic


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args()
    fake, server, base_url = serve_in_thread()
    settings.WECOM_API_BASE_URL = base_url
    cache.clear()
    app.conf.task_always_eager = True
    clinic = setup(fake, args.patients)
    control = base_url.removesuffix("cgi-bin/") + "_fake/"
    load_before = os.getloadavg()

    started = time.monotonic()
    campaign = campaign_save(
        clinic=clinic, name="冬季讲座", body="{诊所}本周六举办冬季养生讲座，欢迎参加。", segment={}
    )
    campaign_schedule(campaign=campaign)  # starts it (eager) and wakes the senders
    tasks = Delivery.objects.filter(idempotency_key__startswith=f"campaign:{campaign.pk}:")
    while tasks.exclude(status=DeliveryStatus.SENT).exists() or not tasks.exists():
        outbox.deliveries_send_due()  # what the beat scan's senders would do meanwhile
    queued = time.monotonic() - started

    for userid in SENDERS:  # each staff member presses 发送 in WeCom
        requests.post(control + "confirm", json={"userid": userid}, timeout=10).raise_for_status()
    confirmed = time.monotonic() - started
    polls = 0
    while Campaign.objects.get(pk=campaign.pk).status != CampaignStatus.SENT:
        outbox.customer_results_poll()
        campaigns_settle()
        polls += 1
    final = time.monotonic() - started

    results = {r["status"]: r["count"] for r in campaign_results(campaign=campaign)["results"]}
    state = requests.get(control + "state", timeout=10).json()
    figures = {
        "patients": args.patients,
        "senders": len(SENDERS),
        "add_msg_template_calls": fake.calls["externalcontact/add_msg_template"],
        "customers_per_task": sorted(len(t["external_userid"]) for t in fake.customer_messages),
        "confirmation_app_messages": len(state["messages"]),
        "seconds_to_queued": round(queued, 2),
        "seconds_to_confirmed": round(confirmed, 2),
        "seconds_to_final_results": round(final, 2),
        "results_polls": polls,
        "wecom_calls": dict(Counter(fake.calls)),
        "results": results,
        "delivered_per_customer": sorted(Counter(state["mass_delivered"].values()).items()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "mass-campaign.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    server.shutdown()
    Clinic.objects.filter(slug="bench-mass").delete()


if __name__ == "__main__":
    main()
