"""Walk every URL pattern of the API (from the URL conf, so a new endpoint is covered without
editing this test) as a user of clinic A against clinic B's objects: by id, in lists, in filters
and in related fields of writes. The answer is always 404 or 400, never B's data, never a change."""

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework import serializers as drf_serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from crm.models import Role
from patients.demo import seed_patients, seed_wards
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def api_patterns():
    """(url name, view callback, names of its URL kwargs) for every pattern under api:."""
    api = next(
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "api"
    )

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            elif (
                isinstance(pattern, URLPattern)
                and pattern.name
                and "format" not in pattern.pattern.regex.groupindex
            ):
                yield pattern.name, pattern.callback, set(pattern.pattern.regex.groupindex)

    return sorted(
        {(name, cb, frozenset(kw)) for name, cb, kw in walk(api.url_patterns)}, key=lambda r: r[0]
    )


def view_model(callback, user):
    """The model behind a DRF view, from its own get_queryset (as it scopes it)."""
    view_class = getattr(callback, "cls", None)
    if view_class is None or not hasattr(view_class, "get_queryset"):
        return None
    request = Request(APIRequestFactory().get("/"))
    request.user = user
    view = view_class()
    view.request = request
    view.format_kwarg = None
    view.kwargs = {}
    view.action = "list"
    from crm.tenancy import membership_for_request

    membership_for_request(view.request)
    try:
        return view.get_queryset().model
    except Exception:  # a view that needs URL kwargs to build its queryset
        return None


def objects_of(model, clinic):
    if any(f.name == "clinic" for f in model._meta.fields):
        return model.objects.filter(clinic=clinic)
    if any(f.name == "patient" for f in model._meta.fields):
        return model.objects.filter(patient__clinic=clinic)
    raise AssertionError(f"{model.__name__} has no clinic: every tenant row needs one")


@pytest.fixture
def world(clinic, other_clinic, staff):
    """Clinic A with its staff, and clinic B with data of every kind the API serves."""
    b_staff = {role.value: make_staff(other_clinic, role.value, f"b-{role.value}") for role in Role}
    seed_patients(
        clinic=other_clinic,
        count=6,
        doctors=[b_staff["doctor"]],
        assistants=[b_staff["assistant"]],
        seed=7,
        wards=seed_wards(clinic=other_clinic, nurses=[b_staff["nurse"].memberships.get()]),
    )
    seed_patients(
        clinic=clinic,
        count=3,
        doctors=[staff["doctor"]],
        assistants=[staff["assistant"]],
        seed=8,
        wards=seed_wards(clinic=clinic, nurses=[staff["nurse"].memberships.get()]),
    )
    for target, people in ((clinic, staff), (other_clinic, b_staff)):
        seed_everything_else(target, people)
    return staff["admin"], other_clinic


def seed_everything_else(clinic, staff):
    """Every app's demo data, so that every endpoint has objects on both sides."""
    from content.demo import seed_clinic as seed_content
    from doctors.demo import seed_clinic as seed_doctors
    from followups.demo import seed_clinic as seed_followups

    seed_content(clinic=clinic, author=staff["operations"])
    seed_followups(clinic=clinic)
    seed_doctors(clinic=clinic, staff=staff)


def methods_of(callback):
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(actions)
    view_class = getattr(callback, "cls", None)
    defined = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]
    return defined or ["get"]


def test_every_api_pattern_is_walked(world):
    """A guard: the walk finds the endpoints we know, so the tests below are not vacuous."""
    names = {name for name, _cb, _kw in api_patterns()}
    assert {
        "patient-list",
        "patient-detail",
        "patient-stage",
        "patient-tags",
        "taggroup-list",
    } <= names


def test_detail_routes_of_another_clinic_are_404_and_change_nothing(world, api):
    user, other = world
    client = api(user)
    checked = 0
    for name, callback, kwargs in api_patterns():
        if kwargs != {"pk"}:
            continue
        model = view_model(callback, user)
        assert model is not None, name
        theirs = objects_of(model, other).first()
        assert theirs is not None, (
            f"clinic B has no {model.__name__}: add it to the demo seed of its app"
        )
        before = model_to_dict(model.objects.get(pk=theirs.pk))
        url = reverse(f"api:{name}", kwargs={"pk": theirs.pk})
        for method in methods_of(callback):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code == 404, (method.upper(), url, response.status_code)
            checked += 1
        assert model_to_dict(model.objects.get(pk=theirs.pk)) == before, name
    assert checked >= 6


def test_lists_never_show_another_clinics_rows(world, api):
    user, other = world
    client = api(user)
    for name, callback, kwargs in api_patterns():
        # Lists of a router's viewsets; list-level actions (counts, export) have shapes of their own.
        if kwargs or not name.endswith("-list"):
            continue
        model = view_model(callback, user)
        if model is None or "get" not in methods_of(callback):
            continue
        response = client.get(reverse(f"api:{name}"), {"page_size": 200})
        assert response.status_code == 200, name
        body = response.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        their_ids = set(objects_of(model, other).values_list("pk", flat=True))
        assert their_ids and not their_ids & {row["id"] for row in rows}, name


def related_fields(serializer_class):
    serializer = serializer_class(context={"request": None})
    for field_name, field in serializer.fields.items():
        if field.read_only:
            continue
        related = (
            field.child_relation if isinstance(field, drf_serializers.ManyRelatedField) else field
        )
        if (
            isinstance(related, drf_serializers.PrimaryKeyRelatedField)
            and related.queryset is not None
        ):
            yield (
                field_name,
                related.queryset.model,
                isinstance(field, drf_serializers.ManyRelatedField),
            )


def test_writes_naming_another_clinics_objects_are_refused_per_field(world, api):
    """Create (POST on a list route) and update (PATCH on a detail route) with each related
    field set to one of clinic B's objects: the field is rejected, nothing is written."""
    user, other = world
    client = api(user)
    checked = 0
    for name, callback, kwargs in api_patterns():
        view_class = getattr(callback, "cls", None)
        serializer_class = getattr(view_class, "serializer_class", None)
        # Create and update use the viewset's serializer; actions validate with their own.
        if serializer_class is None or not name.endswith(("-list", "-detail")):
            continue
        model = view_model(callback, user)
        if model is None:
            continue
        for field_name, related_model, many in related_fields(serializer_class):
            if related_model._meta.label == "auth.User":
                theirs = related_model.objects.filter(memberships__clinic=other).first()
            else:
                theirs = objects_of(related_model, other).first()
            assert theirs is not None, f"clinic B has no {related_model.__name__}"
            value = [theirs.pk] if many else theirs.pk
            if not kwargs and "post" in methods_of(callback):
                count = model.objects.count()
                response = client.post(reverse(f"api:{name}"), {field_name: value}, format="json")
                assert response.status_code == 400 and field_name in response.json()["errors"], (
                    name,
                    field_name,
                )
                assert model.objects.count() == count
                checked += 1
            if kwargs == {"pk"} and "patch" in methods_of(callback):
                mine = model.objects.filter(pk__in=view_model_queryset_ids(model, user)).first()
                before = model_to_dict(mine)
                response = client.patch(
                    reverse(f"api:{name}", kwargs={"pk": mine.pk}),
                    {field_name: value},
                    format="json",
                )
                assert response.status_code == 400 and field_name in response.json()["errors"], (
                    name,
                    field_name,
                )
                assert model_to_dict(model.objects.get(pk=mine.pk)) == before
                checked += 1
    assert checked >= 4


def view_model_queryset_ids(model, user):
    clinic = user.memberships.get().clinic
    return objects_of(model, clinic).values_list("pk", flat=True)


def test_filters_with_another_clinics_ids_return_nothing_of_theirs(world, api, other_clinic):
    user, other = world
    client = api(user)
    their_tag = other_clinic.tags.first()
    their_doctor = other_clinic.memberships.get(role="doctor").user
    their_ward = other_clinic.wards.first()
    for query in (
        {"tag": their_tag.pk},
        {"tag_all": their_tag.pk},
        {"assigned_doctor": their_doctor.pk},
        {"ward": their_ward.pk},
    ):
        response = client.get(reverse("api:patient-list"), query)
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert response.json()["count"] == 0, query
