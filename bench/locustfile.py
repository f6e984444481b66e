"""Load for the assistant's everyday reads, as locust users: the patient list with three
filters and a phone-tail search, a patient (and what its page's follow-ups panel and message
form ask), and a long timeline's first and 100th page.

Run by bench/http_load.py (which starts gunicorn on the benchmark database); by hand:
    locust -f bench/locustfile.py --headless -u 10 -r 10 -t 60s --host http://127.0.0.1:8001
Environment: BENCH_USER (an assistant of the load clinic), BENCH_PASSWORD, BENCH_SHARED,
BENCH_EACH_IN_TURN (set: each request in turn instead of the weighted mix), BENCH_THINK
("min,max" seconds between a user's requests; default 0.1,0.3: near back-to-back).
"""

import json
import os
import random

from locust import HttpUser, SequentialTaskSet, between

USERNAME = os.environ.get("BENCH_USER", "load-assistant-0")
PASSWORD = os.environ.get("BENCH_PASSWORD", "load-test")


THINK = [float(s) for s in os.environ.get("BENCH_THINK", "0.1,0.3").split(",")]

# Ids and the 100th timeline page's cursor, found by bench/http_load.py before the run.
SHARED = json.loads(os.environ.get("BENCH_SHARED", "{}"))


def list_three_filters(user):
    params = {"stage": "maintained", "tag": SHARED["tag"], "assigned_doctor": SHARED["doctor"]}
    user.client.get("/api/patients/", params=params, name="list: 3 filters")


def phone_tail_search(user):
    params = {"q": f"{random.randrange(10000):04d}"}
    user.client.get("/api/patients/", params=params, name="list: phone tail")


def patient(user):
    user.client.get(f"/api/patients/{random.choice(SHARED['patients'])}/", name="patient")


def patient_followups(user):
    # What the patient page's follow-ups panel asks (followups/static/followups/patient_followups.js).
    pk = random.choice(SHARED["patients"])
    params = {"patient": pk, "status": "open", "page_size": 20}
    user.client.get("/api/followup-tasks/", params=params, name="patient: open follow-ups")
    params = {"patient": pk, "status": "active", "page_size": 20}
    user.client.get("/api/care-plans/", params=params, name="patient: care plans")


def patient_message_check(user):
    # What the patient page's "send a message" form asks first: may this patient be messaged now.
    pk = random.choice(SHARED["patients"])
    user.client.get(f"/api/patients/{pk}/message/", name="patient: message check")


def timeline_first(user):
    user.client.get(f"/api/patients/{SHARED['heavy']}/timeline/", name="timeline: page 1")


def timeline_100(user):
    user.client.get(SHARED["timeline_100"], name="timeline: page 100")


# The mix of an assistant's morning: mostly lists and searches.
WEIGHTED = {
    list_three_filters: 4,
    phone_tail_search: 3,
    patient: 3,
    patient_followups: 3,
    patient_message_check: 3,
    timeline_first: 2,
    timeline_100: 2,
}


def note(user):
    # A write: the session is then read from the primary for REPLICA_PIN_SECONDS (crm/replica.py).
    pk = random.choice(SHARED["patients"])
    user.client.post(
        f"/api/patients/{pk}/timeline/",
        json={"kind": "note", "summary": "随访：血压平稳"},
        headers={"X-CSRFToken": SHARED["csrftoken"], "Referer": user.host + "/"},
        name="note (write)",
    )


def dashboard(user):
    user.client.get("/api/dashboard/", name="dashboard")


def followup_figures(user):
    user.client.get("/api/followup-figures/", name="dashboard: follow-up figures")


def list_counts(user):
    user.client.get("/api/patients/counts/", name="list: counts per stage")


# BENCH_MIX=day: the morning's reads, a note now and then, and the dashboard the doctor opens
# (the reads crm.replica sends to a replica when one is configured).
if os.environ.get("BENCH_MIX") == "day":
    WEIGHTED |= {note: 2, dashboard: 1, followup_figures: 1, list_counts: 2}


class EachInTurn(SequentialTaskSet):
    """Every request once per round: the smoke run (tests/test_bench_smoke.py) sees them all."""

    tasks = list(WEIGHTED)


class Assistant(HttpUser):
    wait_time = between(*THINK)
    tasks = [EachInTurn] if os.environ.get("BENCH_EACH_IN_TURN") else WEIGHTED

    def on_start(self):
        # Signed in already (bench/http_load.py's session): fifty password hashes at once would
        # take the 2-core machine longer than a short measurement window.
        if SHARED.get("sessionid"):
            self.client.cookies.set("sessionid", SHARED["sessionid"])
            if SHARED.get("csrftoken"):  # the day mix's writes send it back (CSRF)
                self.client.cookies.set("csrftoken", SHARED["csrftoken"])
            return
        self.client.get("/accounts/login/", name="login")
        self.client.post(
            "/accounts/login/",
            data={
                "username": USERNAME,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.client.cookies["csrftoken"],
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            name="login",
        )
