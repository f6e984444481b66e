"""Appointments: booking (API and the patient page's form target), each status change and what
it does (visit, stage, task, timeline), refusals in Chinese that change nothing, scoping
(another clinic: 404; a nurse: her wards), {复诊日期} from the next appointment, the no-show rate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from content import templating
from crm.models import Membership, Role
from followups import appointments, clock, services
from followups.appointment_models import Appointment, AppointmentStatus
from followups.models import FollowUpTask
from patients.choices import Stage, TouchKind
from patients.models import Visit
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
LIST = "/api/appointments/"


def day_at(days: int, hhmm: str = "10:00"):
    """A clinic wall-clock time `days` from today."""
    return clock.at(clock.local_today() + timedelta(days=days), clock.hhmm(hhmm))


def book_past(patient, doctor, days=-1, hhmm="10:00", **kwargs):
    """An appointment whose time has come, booked (as it was) a week before."""
    start = day_at(days, hhmm)
    return services.appointment_book(
        patient=patient, doctor=doctor, start=start, now=start - timedelta(days=7), **kwargs
    )


@pytest.fixture
def patient(make_patient, staff):
    return make_patient(
        name="李梅", assigned_assistant=staff["assistant"], assigned_doctor=staff["doctor"]
    )


def test_booking_through_the_api_creates_it_and_moves_the_patient_to_booked(api, staff, patient):
    start = day_at(2, "09:30")
    response = api(staff["assistant"]).post(
        LIST,
        {"patient": patient.pk, "doctor": staff["doctor"].pk, "start": start.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "booked" and body["status_display"] == "已预约"
    assert body["kind_display"] == "复诊" and body["doctor_name"] == "a-doctor"
    appointment = Appointment.objects.get(pk=body["id"])
    assert appointment.start == start and appointment.created_by == staff["assistant"]
    patient.refresh_from_db()
    assert patient.stage == Stage.BOOKED
    [touch] = patient.touches.filter(kind=TouchKind.STAGE_CHANGE)
    assert f"{clock.local(start):%Y-%m-%d %H:%M}" in touch.summary and "a-doctor" in touch.summary


def test_a_second_booking_at_booked_stage_is_its_own_timeline_entry(staff, patient):
    services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(2))
    services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(5))
    entries = patient.touches.filter(kind=TouchKind.FOLLOWUP, payload__event="appointment_booked")
    assert entries.count() == 1 and patient.appointments.count() == 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"start": "past"}, "不能预约过去的时间"),
        ({"start": "night"}, "08:00 至 20:00"),
        ({"doctor": "assistant"}, "请选择本诊所的医生"),
        ({"doctor": "outsider"}, "请选择本诊所的医生"),
        ({"start": "clash"}, "该患者在"),
    ],
)
def test_bad_bookings_are_refused_in_chinese_and_change_nothing(
    api, staff, patient, other_clinic, change, message
):
    services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(3, "10:00"))
    before = (Appointment.objects.count(), patient.touches.count())
    starts = {
        "past": timezone.now() - timedelta(hours=1),
        "night": day_at(2, "22:00"),
        "clash": day_at(3, "10:15"),
    }
    doctors = {"assistant": staff["assistant"], "outsider": make_staff(other_clinic, Role.DOCTOR)}
    data = {
        "patient": patient.pk,
        "doctor": doctors.get(change.get("doctor"), staff["doctor"]).pk,
        "start": starts.get(change.get("start"), day_at(4)).isoformat(),
    }
    response = api(staff["assistant"]).post(LIST, data, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["errors"]), response.json()
    assert (Appointment.objects.count(), patient.touches.count()) == before


def test_another_clinics_patient_cannot_be_booked_nor_seen(
    api, staff, patient, make_patient, other_clinic, outsider
):
    stranger = make_patient(name="外人", target_clinic=other_clinic)
    response = api(staff["assistant"]).post(
        LIST,
        {"patient": stranger.pk, "doctor": staff["doctor"].pk, "start": day_at(2).isoformat()},
        format="json",
    )
    assert response.status_code == 400 and "patient" in response.json()["errors"]
    mine = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(2))
    client = api(outsider)
    assert client.get(LIST).json()["count"] == 0
    assert client.get(f"{LIST}{mine.pk}/").status_code == 404
    assert (
        client.post(f"{LIST}{mine.pk}/cancel/", {"reason": "x"}, format="json").status_code == 404
    )
    mine.refresh_from_db()
    assert mine.status == AppointmentStatus.BOOKED


def test_arrived_records_the_visit_and_moves_the_stage(api, staff, patient):
    appointment = book_past(patient, staff["doctor"], days=0, hhmm="08:00", kind="re_exam")
    response = api(staff["assistant"]).post(f"{LIST}{appointment.pk}/arrive/")
    assert response.status_code == 200 and response.json()["status_display"] == "已到诊"
    [visit] = Visit.objects.filter(patient=patient)
    assert visit.kind == Visit.Kind.RE_EXAM and visit.doctor == staff["doctor"]
    assert visit.visit_date == clock.local_today()
    appointment.refresh_from_db()
    assert appointment.visit == visit and appointment.status_changed_by == staff["assistant"]
    patient.refresh_from_db()
    assert patient.stage == Stage.ARRIVED and patient.last_visit_date == visit.visit_date
    assert patient.touches.filter(kind=TouchKind.VISIT).count() == 1
    again = api(staff["assistant"]).post(f"{LIST}{appointment.pk}/arrive/")
    assert again.status_code == 400 and "已到诊" in again.json()["message"]
    assert Visit.objects.filter(patient=patient).count() == 1


def test_arrival_on_a_later_day_is_refused(api, staff, patient):
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(2)
    )
    response = api(staff["assistant"]).post(f"{LIST}{appointment.pk}/arrive/")
    assert response.status_code == 400 and "请在当天标记到诊" in response.json()["message"]
    assert not Visit.objects.filter(patient=patient).exists()


def test_no_show_makes_a_call_task_for_the_assistant_and_a_timeline_entry(api, staff, patient):
    appointment = book_past(patient, staff["doctor"])
    response = api(staff["doctor"]).post(f"{LIST}{appointment.pk}/no-show/")
    assert response.status_code == 200 and response.json()["status_display"] == "爽约"
    [task] = FollowUpTask.objects.filter(patient=patient)
    assert task.assignee == staff["assistant"] and task.action == "call"
    assert "爽约" in task.title and response.json()["task"] == task.pk
    [touch] = patient.touches.filter(payload__event="appointment_no_show")
    assert touch.payload["task_id"] == task.pk and "爽约" in touch.summary


def test_no_show_without_an_assistant_goes_to_the_assistants_pool(staff, make_patient):
    patient = make_patient(name="王强")
    appointment = services.appointment_no_show(appointment=book_past(patient, staff["doctor"]))
    assert appointment.task.assignee is None and appointment.task.role == Role.ASSISTANT


def test_no_show_before_the_time_is_refused(api, staff, patient):
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(1)
    )
    response = api(staff["assistant"]).post(f"{LIST}{appointment.pk}/no-show/")
    assert response.status_code == 400 and "尚未开始" in response.json()["message"]
    assert not FollowUpTask.objects.exists()


def test_cancel_needs_a_reason_and_is_on_the_timeline(api, staff, patient):
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(2)
    )
    client = api(staff["assistant"])
    empty = client.post(f"{LIST}{appointment.pk}/cancel/", {"reason": " "}, format="json")
    assert empty.status_code == 400
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    done = client.post(f"{LIST}{appointment.pk}/cancel/", {"reason": "出差"}, format="json")
    assert done.status_code == 200 and done.json()["cancel_reason"] == "出差"
    [touch] = patient.touches.filter(payload__event="appointment_cancelled")
    assert "出差" in touch.summary
    # The slot is free again.
    services.appointment_book(patient=patient, doctor=staff["doctor"], start=appointment.start)


def test_list_filters_by_day_range_doctor_status_and_patient(api, staff, patient, make_patient):
    other = make_patient(name="赵六")
    second_doctor = make_staff(patient.clinic, Role.DOCTOR, "doctor-2")
    a = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(1))
    b = services.appointment_book(patient=other, doctor=second_doctor, start=day_at(3))
    c = book_past(other, staff["doctor"])
    services.appointment_no_show(appointment=c)
    client = api(staff["assistant"])

    def ids(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [c.pk, a.pk, b.pk]
    day = clock.local_today() + timedelta(days=1)
    assert ids(date_from=day.isoformat(), date_to=day.isoformat()) == [a.pk]
    assert ids(doctor=second_doctor.pk) == [b.pk]
    assert ids(status="no_show") == [c.pk]
    assert ids(status="booked", patient=other.pk) == [b.pk]
    assert client.get(LIST, {"date_from": "昨天"}).status_code == 400


def test_a_nurse_sees_only_her_wards_appointments(api, staff, nurse_ward, make_patient):
    inside = make_patient(name="病区内", ward=nurse_ward)
    outside = make_patient(name="病区外")
    mine = services.appointment_book(patient=inside, doctor=staff["doctor"], start=day_at(1))
    theirs = services.appointment_book(patient=outside, doctor=staff["doctor"], start=day_at(1))
    client = api(staff["nurse"])
    assert [r["id"] for r in client.get(LIST).json()["results"]] == [mine.pk]
    assert client.get(f"{LIST}{theirs.pk}/").status_code == 404
    refused = client.post(
        LIST,
        {"patient": outside.pk, "doctor": staff["doctor"].pk, "start": day_at(2).isoformat()},
        format="json",
    )
    assert refused.status_code == 400
    membership = Membership.objects.get(user=staff["nurse"])
    days = appointments.appointment_days(membership=membership, day=clock.local_today())
    shown = [a.pk for _day, doctors in days for _name, rows in doctors for a in rows]
    assert shown == [mine.pk]


def test_revisit_date_fills_from_the_next_booked_appointment(staff, patient):
    text = "{姓名}您好，请于{复诊日期}来复诊。"
    with pytest.raises(Exception, match="复诊日期"):
        templating.render(template_text=text, patient=patient)
    later = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(6))
    sooner = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(2))
    past = book_past(patient, staff["doctor"])
    assert later and past
    expected = clock.local(sooner.start).date()
    assert templating.render(template_text=text, patient=patient) == (
        f"李梅您好，请于{expected:%Y年%m月%d日}来复诊。"
    )
    services.appointment_cancel(appointment=sooner, reason="改期")
    assert f"{clock.local(later.start).date():%Y年%m月%d日}" in templating.render(
        template_text=text, patient=patient
    )
    # An explicit date wins.
    explicit = templating.render(
        template_text=text, patient=patient, extra={"复诊日期": clock.local_today()}
    )
    assert f"{clock.local_today():%Y年%m月%d日}" in explicit


def test_no_show_rate_counts_due_appointments_and_leaves_cancelled_out(
    api, staff, patient, make_patient
):
    patients = [patient] + [make_patient(name=f"患者{n}") for n in range(4)]
    arrived = book_past(patients[0], staff["doctor"], days=-2)
    services.appointment_arrive(appointment=arrived)
    services.appointment_no_show(appointment=book_past(patients[1], staff["doctor"], days=-2))
    services.appointment_cancel(
        appointment=book_past(patients[2], staff["doctor"], days=-2), reason="改期"
    )
    book_past(patients[3], staff["doctor"], days=-1)  # due, not marked
    services.appointment_book(patient=patients[4], doctor=staff["doctor"], start=day_at(1))
    start = (clock.local_today() - timedelta(days=7)).isoformat()
    end = (clock.local_today() + timedelta(days=7)).isoformat()
    response = api(staff["doctor"]).get(
        "/api/appointment-figures/", {"start": start, "end": clock.local_today().isoformat()}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["due"], body["no_show"], body["arrived"], body["unmarked"]) == (3, 1, 1, 1)
    assert body["no_show_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # A future appointment is not due yet, whatever the period's end.
    later = api(staff["doctor"]).get("/api/appointment-figures/", {"start": start, "end": end})
    assert later.json()["due"] == 3
    assert api(staff["nurse"]).get("/api/appointment-figures/").status_code == 403


def test_the_page_lists_the_week_per_doctor_filters_and_links_each_patient(
    client, staff, patient, make_patient
):
    second = make_staff(patient.clinic, Role.DOCTOR, "doctor-2")
    other = make_patient(name="赵六")
    a = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(1))
    b = services.appointment_book(patient=other, doctor=second, start=day_at(2))
    far = services.appointment_book(patient=other, doctor=second, start=day_at(9))
    client.force_login(staff["assistant"])
    page = client.get("/appointments/").content.decode()
    assert (
        f'data-testid="appointment-{a.pk}"' in page and f'data-testid="appointment-{b.pk}"' in page
    )
    assert f'data-testid="appointment-{far.pk}"' not in page  # past the week
    assert f'href="/patients/{patient.pk}/"' in page and "a-doctor" in page and "doctor-2" in page
    filtered = client.get("/appointments/", {"doctor": second.pk}).content.decode()
    assert f'appointment-{a.pk}"' not in filtered and f'appointment-{b.pk}"' in filtered
    later = client.get("/appointments/", {"day": day_at(8).date().isoformat()}).content.decode()
    assert f'data-testid="appointment-{far.pk}"' in later
    assert client.get("/appointments/", {"day": "not-a-day"}).status_code == 200


def test_page_actions_change_the_appointment_and_say_why_when_refused(
    client, staff, patient, outsider
):
    booked = services.appointment_book(patient=patient, doctor=staff["doctor"], start=day_at(1))
    client.force_login(staff["assistant"])
    refused = client.post(f"/appointments/{booked.pk}/no-show/", follow=True)
    assert "尚未开始" in refused.content.decode()
    empty = client.post(f"/appointments/{booked.pk}/cancel/", {"reason": ""}, follow=True)
    assert "请填写取消预约的原因" in empty.content.decode()
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.BOOKED
    done = client.post(f"/appointments/{booked.pk}/cancel/", {"reason": "出差"}, follow=True)
    assert "已取消：李梅" in done.content.decode()
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.CANCELLED
    past = book_past(patient, staff["doctor"])
    assert client.post(f"/appointments/{past.pk}/delete/").status_code == 404
    client.force_login(staff["operations"])
    assert client.post(f"/appointments/{past.pk}/arrive/").status_code == 403
    client.force_login(outsider)
    assert client.post(f"/appointments/{past.pk}/arrive/").status_code == 404
    past.refresh_from_db()
    assert past.status == AppointmentStatus.BOOKED


def test_a_template_preview_without_a_date_takes_the_next_appointment(api, staff, patient):
    from content.templates_service import message_template_save

    template = message_template_save(
        clinic=patient.clinic, name="复诊提醒", body="{姓名}，请于{复诊日期}复诊。"
    )
    client = api(staff["assistant"])
    url = f"/api/message-templates/{template.pk}/preview/"
    missing = client.post(url, {"patient": patient.pk}, format="json")
    assert missing.status_code == 400 and "复诊日期" in str(missing.json())
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(3)
    )
    response = client.post(url, {"patient": patient.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["text"].startswith(
        f"李梅，请于{clock.local(appointment.start).date():%Y年%m月%d日}复诊。"
    )


def test_operations_read_appointments_but_cannot_change_them(api, staff, patient):
    appointment = book_past(patient, staff["doctor"])
    client = api(staff["operations"])
    assert client.get(LIST).json()["count"] == 1
    assert client.post(f"{LIST}{appointment.pk}/no-show/").status_code == 403
    data = {"patient": patient.pk, "doctor": staff["doctor"].pk, "start": day_at(2).isoformat()}
    assert client.post(LIST, data, format="json").status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED and Appointment.objects.count() == 1


def test_a_time_without_an_offset_is_clinic_time_whatever_the_servers_zone(
    api, staff, patient, settings
):
    settings.TIME_ZONE = "UTC"
    day = clock.local_today() + timedelta(days=2)
    response = api(staff["assistant"]).post(
        LIST,
        {"patient": patient.pk, "doctor": staff["doctor"].pk, "start": f"{day}T09:30"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Appointment.objects.get().start == clock.at(day, clock.hhmm("09:30"))
    assert response.json()["start"] == f"{day}T09:30:00+08:00"
