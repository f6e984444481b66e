"""Who may do what: crm.capabilities is the one table, docs/security.md and the module's
docstring say the same, and every capability × role goes through the page decorator and the
API's permission class as the table says."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from crm import capabilities
from crm.api import IsClinicMember
from crm.capabilities import CAPABILITIES, ImproperlyConfiguredCapability
from crm.models import Membership, Role
from crm.tenancy import clinic_member_required

ROLES = [r.value for r in Role]
DOC_COLUMNS = ["admin", "doctor", "assistant", "nurse", "operations"]


def _documented_table():
    """docs/security.md's role × capability table: capability → the roles with a ✓."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    section = text.split("**Role × capability**", 1)[1]
    table = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \|(.*)", line)
        if match:
            cells = [c.strip() for c in match.group(2).split("|")][: len(DOC_COLUMNS)]
            table[match.group(1)] = {r for r, c in zip(DOC_COLUMNS, cells, strict=True) if c == "✓"}
        elif table and not line.startswith("|"):
            break
    return table


def _docstring_table():
    table = {}
    for line in capabilities.__doc__.splitlines():
        words = line.split()
        if len(words) >= 6 and words[0] in CAPABILITIES:
            table[words[0]] = {r for r, c in zip(DOC_COLUMNS, words[1:6], strict=True) if c == "✓"}
    return table


def test_the_documented_tables_are_the_code():
    code = {name: {str(r) for r in roles} for name, roles in CAPABILITIES.items()}
    assert _documented_table() == code
    assert _docstring_table() == code


def test_every_capability_has_its_property_and_every_property_its_capability():
    properties = {n[4:] for n in dir(Membership) if n.startswith("can_")}
    assert properties == set(CAPABILITIES)
    assert all(set(roles) <= set(ROLES) for roles in CAPABILITIES.values())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_membership_answers_the_table(name, role):
    member = Membership(role=role)
    expected = role in _documented_table()[name]
    assert member.can(name) is expected
    assert getattr(member, f"can_{name}") is expected


def test_an_unknown_capability_fails_where_it_is_written():
    with pytest.raises(ImproperlyConfiguredCapability):
        clinic_member_required(capability="reveal_phones")
    with pytest.raises(ImproperlyConfiguredCapability):
        Membership(role=Role.ADMIN).can("reveal_phones")


@pytest.mark.django_db
def test_every_capability_and_role_through_pages_and_api(staff):
    """The decorator and the permission class let exactly the table's roles through."""
    table = _documented_table()
    pages = RequestFactory()
    api = APIRequestFactory()

    def page(request):
        return HttpResponse("ok")

    for name, allowed in table.items():
        decorated = clinic_member_required(capability=name)(page)
        read_view = type("ReadView", (APIView,), {"capability": name})
        write_view = type("WriteView", (APIView,), {"write_capability": name})
        for role in ROLES:
            request = pages.get("/")
            request.user = staff[role]
            if role in allowed:
                assert decorated(request).status_code == 200, (name, role)
            else:
                with pytest.raises(PermissionDenied):
                    decorated(request)
            for method, view, expected in (
                ("get", read_view, role in allowed),
                ("post", read_view, role in allowed),
                ("get", write_view, True),
                ("post", write_view, role in allowed),
            ):
                request = getattr(api, method)("/")
                force_authenticate(request, user=staff[role])
                drf_request = view().initialize_request(request)
                assert IsClinicMember().has_permission(drf_request, view()) is expected, (
                    name,
                    role,
                    method,
                )


def _views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern.callback


def test_every_api_view_names_a_capability_that_exists():
    named = 0
    for callback in _views(get_resolver().url_patterns):
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        for attribute in ("capability", "write_capability"):
            name = getattr(view, attribute, None)
            if name is not None:
                assert name in CAPABILITIES, (view, attribute, name)
                named += 1
        for attribute in ("allowed_roles", "write_roles"):  # the old role tuples are gone
            assert not hasattr(view, attribute), (view, attribute)
    assert named >= 15
