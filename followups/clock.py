"""Clinic time. Day boundaries, due windows and quiet hours are computed in the clinic's
zone (CLINIC_TIME_ZONE, Asia/Shanghai) whatever the server's or the process's zone."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_TIME_ZONE)


def local(moment: datetime) -> datetime:
    return moment.astimezone(clinic_tz())


def local_today(now: datetime | None = None) -> date:
    return local(now or timezone.now()).date()


def at(day: date, clock: time) -> datetime:
    """An aware datetime for a wall-clock time on a clinic day."""
    return datetime.combine(day, clock, tzinfo=clinic_tz())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a clinic day, as aware datetimes."""
    return at(day, time.min), at(day + timedelta(days=1), time.min)


def hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(moment: datetime) -> bool:
    """Quiet hours (FOLLOWUPS_QUIET_HOURS, e.g. 21:00–08:00) may wrap past midnight."""
    start, end = (hhmm(v) for v in settings.FOLLOWUPS_QUIET_HOURS)
    clock = local(moment).time()
    if start <= end:
        return start <= clock < end
    return clock >= start or clock < end


def quiet_hours_end(moment: datetime) -> datetime:
    """The first moment after `moment` when quiet hours are over."""
    end = hhmm(settings.FOLLOWUPS_QUIET_HOURS[1])
    day = local(moment).date()
    candidate = at(day, end)
    if candidate <= moment:
        candidate = at(day + timedelta(days=1), end)
    return candidate


def staff_hours(moment: datetime) -> bool:
    """Staff digests go out during working hours only (FOLLOWUPS_STAFF_HOURS)."""
    start, end = (hhmm(v) for v in settings.FOLLOWUPS_STAFF_HOURS)
    return start <= local(moment).time() < end


def digest_slot(moment: datetime) -> str:
    """The digest window `moment` falls in: one digest per assignee per slot."""
    minutes = settings.FOLLOWUPS_DIGEST_SLOT_MINUTES
    clock = local(moment)
    index = (clock.hour * 60 + clock.minute) // minutes
    return f"{clock.date().isoformat()}:{index}"


def add_staff_hours(moment: datetime, hours: float) -> datetime:
    """`moment` plus `hours` of staff hours (FOLLOWUPS_STAFF_HOURS): the time outside them
    does not count, so 4 hours from 18:00 with staff hours 08:00–20:00 is 10:00 the next day."""
    start, end = (hhmm(v) for v in settings.FOLLOWUPS_STAFF_HOURS)
    remaining = timedelta(hours=hours)
    current = moment
    while True:
        day = local(current).date()
        day_start, day_end = at(day, start), at(day, end)
        if current < day_start:
            current = day_start
        elif current >= day_end:
            current = at(day + timedelta(days=1), start)
            continue
        if current + remaining <= day_end:
            return current + remaining
        remaining -= day_end - current
        current = at(day + timedelta(days=1), start)


def from_db(value) -> datetime:
    """A datetime read by raw SQL, made aware. Django stores aware datetimes in UTC; SQLite
    has no time zone type, so a raw cursor there gives a naive datetime (or its text), which
    `astimezone` would take for the server's local time (Asia/Shanghai: 8 hours off).
    PostgreSQL's timestamptz comes back aware and passes through unchanged."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
