"""Load for the assistant's everyday reads, as locust users: the patient list with three
filters and a phone-tail search, a patient, and a long timeline's first and 100th page.

Run by bench/http_load.py (which starts gunicorn on the benchmark database); by hand:
    locust -f bench/locustfile.py --headless -u 10 -r 10 -t 60s --host http://127.0.0.1:8001
Environment: BENCH_USER (an assistant of the load clinic), BENCH_PASSWORD, BENCH_SHARED.
"""

import json
import os
import random

from locust import HttpUser, between, task

USERNAME = os.environ.get("BENCH_USER", "load-assistant-0")
PASSWORD = os.environ.get("BENCH_PASSWORD", "load-test")


# Ids and the 100th timeline page's cursor, found by bench/http_load.py before the run.
SHARED = json.loads(os.environ.get("BENCH_SHARED", "{}"))


class Assistant(HttpUser):
    wait_time = between(0.1, 0.3)

    def on_start(self):
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

    @task(4)
    def list_three_filters(self):
        params = {"stage": "maintained", "tag": SHARED["tag"], "assigned_doctor": SHARED["doctor"]}
        self.client.get("/api/patients/", params=params, name="list: 3 filters")

    @task(3)
    def phone_tail_search(self):
        self.client.get(
            "/api/patients/",
            params={"q": f"{random.randrange(10000):04d}"},
            name="list: phone tail",
        )

    @task(3)
    def patient(self):
        self.client.get(f"/api/patients/{random.choice(SHARED['patients'])}/", name="patient")

    @task(2)
    def timeline_first(self):
        self.client.get(f"/api/patients/{SHARED['heavy']}/timeline/", name="timeline: page 1")

    @task(2)
    def timeline_100(self):
        self.client.get(SHARED["timeline_100"], name="timeline: page 100")
