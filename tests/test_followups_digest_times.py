"""Digest times are clinic times on both databases. The digest claim reads due_at by raw SQL
(UPDATE … RETURNING): PostgreSQL gives an aware datetime, SQLite a naive one in UTC, which was
shown 8 hours off in the demo (taken for the server's Asia/Shanghai time)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from crm.models import Membership
from followups import clock, services
from tests.followups_factories import step
from wechat.models import Delivery, DeliveryChannel

SH = ZoneInfo("Asia/Shanghai")


def _sqlite_connection():
    """A real Django SQLite connection (the demo's database), in memory, beside the suite's
    PostgreSQL one."""
    from django.conf import settings
    from django.db.backends.sqlite3.base import DatabaseWrapper

    settings_dict = {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"}
    settings_dict.update(NAME=":memory:", OPTIONS={}, TEST={}, CONN_MAX_AGE=0)
    return DatabaseWrapper(settings_dict, alias="sqlite-check")


@pytest.mark.django_db  # lifts pytest-django's block on opening connections, for SQLite's too
def test_sqlite_raw_sql_datetimes_are_naive_utc_and_from_db_makes_them_right():
    due = datetime(2026, 3, 1, 9, 30, tzinfo=SH)
    sqlite = _sqlite_connection()
    try:
        with sqlite.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id integer PRIMARY KEY, due_at datetime NOT NULL)")
            # What Django writes for an aware DateTimeField value on SQLite.
            cursor.execute(
                "INSERT INTO t (due_at) VALUES (%s)",
                [sqlite.ops.adapt_datetimefield_value(due)],
            )
            cursor.execute("UPDATE t SET id = id RETURNING id, due_at")
            (_id, raw), *_rest = cursor.fetchall()
    finally:
        sqlite.close()
    # SQLite hands back the UTC wall time with no zone: the root of the 8-hour shift.
    assert raw == datetime(2026, 3, 1, 1, 30) or raw == "2026-03-01 01:30:00"
    assert clock.from_db(raw) == due
    assert f"{clock.local(clock.from_db(raw)):%m-%d %H:%M}" == "03-01 09:30"


def test_from_db_keeps_an_aware_value_and_reads_text():
    due = datetime(2026, 3, 1, 9, 30, tzinfo=SH)
    assert clock.from_db(due) is due
    assert clock.from_db("2026-03-01 01:30:00") == due
    assert clock.from_db(datetime(2026, 3, 1, 1, 30)).tzinfo is UTC


@pytest.mark.django_db
def test_postgresql_raw_sql_is_aware_and_the_digest_shows_clinic_time(clinic, make_patient, staff):
    assert connection.vendor == "postgresql"
    assistant = staff["assistant"]
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    template = services.template_create(
        clinic=clinic, name="随访", steps=[step(offset_days=0, window_start="09:30")]
    )
    services.plan_start(
        patient=make_patient(name="郑三", assigned_assistant=assistant),
        template=template,
        anchor_date=date(2026, 3, 1),
    )
    services.staff_digests_enqueue(now=datetime(2026, 3, 1, 10, 0, tzinfo=SH))
    body = Delivery.objects.get(channel=DeliveryChannel.APP_MESSAGE).body
    assert "· 03-01 09:30 郑三" in body
    with connection.cursor() as cursor:
        cursor.execute("SELECT due_at FROM followups_followuptask")
        (raw,) = cursor.fetchone()
    assert raw.tzinfo is not None and clock.from_db(raw) == datetime(2026, 3, 1, 9, 30, tzinfo=SH)
