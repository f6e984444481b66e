"""No 500 on any input: NUL and control characters in a query string, a form field or a JSON
field, JSON nested too deeply, dates out of range (a care plan in 9999), on every API endpoint
of the schema and the pages, for every role. Each is a clear 400 (or the refusal the role gets
anyway), never a server error."""

import json

import pytest

from crm.models import Role

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]
DEEP = "[" * 5000 + "]" * 5000
PAGES = [
    "/workbench/",
    "/dashboard/",
    "/nurse/",
    "/operations/",
    "/followups/queue/",
    "/settings/audit/",
    "/settings/api-tokens/",
    "/content/articles/",
    "/wechat/channel-codes/",
    "/doctors/",
]


@pytest.fixture(scope="module")
def operations(django_db_blocker):
    """Every operation of the API schema: (method, path template, request body schema)."""
    from drf_spectacular.generators import SchemaGenerator

    # What /api/schema/ serves (to signed-in staff only): read from its generator.
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            media = body.get("application/json", {}).get("schema", {})
            ref = media.get("$ref", "")
            properties = {}
            if ref:
                properties = schema["components"]["schemas"][ref.split("/")[-1]].get(
                    "properties", {}
                )
            found.append((method.upper(), path, properties))
    assert len(found) > 50
    return found


def concrete(path: str, pk: int) -> str:
    import re

    return re.sub(r"\{[^}]+\}", str(pk), path)


@pytest.fixture
def world(clinic, staff, make_patient):
    patient = make_patient(name="边界患者")
    return {"patient": patient, "staff": staff}


def no_server_error(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]}"


@pytest.mark.parametrize("role", ROLES)
def test_control_characters_in_query_strings_are_400_on_every_endpoint(
    api, world, operations, role
):
    client = api(world["staff"][role])
    for method, path, _ in operations:
        url = concrete(path, world["patient"].pk)
        for query in ("q=%00", "page=1%01", "kind=%1bnote"):
            response = client.generic(method, f"{url}?{query}")
            assert response.status_code == 400, (method, url, query, response.status_code)
            assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("role", ROLES)
def test_deep_json_nul_in_fields_and_dates_in_9999_are_never_a_500(api, world, operations, role):
    client = api(world["staff"][role])
    for method, path, properties in operations:
        if method not in ("POST", "PUT", "PATCH"):
            continue
        url = concrete(path, world["patient"].pk)
        deep = client.generic(method, url, DEEP, content_type="application/json")
        no_server_error(deep, f"{method} {url} deep JSON")
        strings = {k: "名\x00字" for k, v in properties.items() if v.get("type") == "string"}
        nul = client.generic(
            method, url, json.dumps(strings or {"x": "\x00"}), content_type="application/json"
        )
        no_server_error(nul, f"{method} {url} NUL")
        dated = {}
        for name, spec in properties.items():
            if spec.get("format") == "date":
                dated[name] = "9999-12-31"
            elif spec.get("format") == "date-time":
                dated[name] = "9999-12-31T23:59:59+08:00"
        if dated:
            response = client.generic(
                method, url, json.dumps(dated), content_type="application/json"
            )
            no_server_error(response, f"{method} {url} {dated}")


def test_deep_json_and_nul_in_json_are_a_clear_400(api, assistant, world):
    url = f"/api/patients/{world['patient'].pk}/timeline/"
    deep = api(assistant).post(url, DEEP, content_type="application/json")
    assert deep.status_code == 400 and deep.json()["message"] == "JSON 嵌套层数过多。"
    nested = {"summary": "x"}
    for _ in range(40):
        nested = {"a": nested}
    assert api(assistant).post(url, nested, format="json").status_code == 400
    nul = api(assistant).post(url, {"summary": "通话\x00记录"}, format="json")
    assert nul.status_code == 400 and nul.json()["message"] == "JSON 中含有不允许的字符。"


@pytest.mark.parametrize("role", ROLES)
def test_pages_refuse_control_characters_in_queries_and_form_fields(client, world, role):
    client.force_login(world["staff"][role])
    for url in [*PAGES, f"/patients/{world['patient'].pk}/"]:
        response = client.get(url + "?q=%00abc")
        assert response.status_code == 400, url
        assert "不允许" in response.content.decode()
    response = client.post("/settings/api-tokens/", {"member": "1\x00", "action": "create"})
    assert response.status_code == 400


def test_a_care_plan_in_9999_is_a_clear_400(api, admin_user, clinic, world):
    from tests.followups_factories import post_op_template

    template = post_op_template(clinic)
    client = api(admin_user)
    for url, body in (
        ("/api/care-plans/", {"patient": world["patient"].pk}),
        ("/api/care-plans/bulk/", {"patients": [world["patient"].pk]}),
    ):
        response = client.post(
            url, {**body, "template": template.pk, "anchor_date": "9999-12-31"}, format="json"
        )
        assert response.status_code == 400, (url, response.content)
        assert response.json()["errors"]["anchor_date"] == [
            "请输入1900-01-01至2100-12-31之间的日期。"
        ]


def test_dashboard_dates_out_of_range_are_400(api, admin_user, world):
    client = api(admin_user)
    for params in ({"end": "9999-12-31"}, {"start": "0001-01-01"}):
        for url in (
            "/api/dashboard/",
            "/api/followup-figures/",
            "/api/channel-figures/",
            "/api/doctor-funnel/",
        ):
            response = client.get(url, params)
            assert response.status_code == 400, (url, params, response.status_code)


def test_a_token_that_is_not_text_is_refused_not_a_500(client, world):
    response = client.get("/api/patients/", HTTP_AUTHORIZATION="Token \xe9\xff")
    assert response.status_code in (401, 403)


def test_anonymous_requests_with_bad_input_are_400_too(client):
    assert client.get("/api/patients/?q=%00").status_code == 400
    assert client.get("/accounts/login/?next=%00").status_code == 400
