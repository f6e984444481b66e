"""Schemathesis against the live OpenAPI schema: every operation, every method, as a signed-in
member of each role. Passing means 0 server errors and 0 responses that break the schema.
`make test` runs a few derandomized examples per operation and role; `make fuzz` many, with
fresh seeds. The hand-picked hostile inputs (NUL, control characters, deep JSON, dates in 9999)
on every endpoint are tests/test_security_input.py's."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from crm.api_tokens import api_token_create
from crm.models import Role
from crm.wsgi import application

pytestmark = pytest.mark.fuzz


def _served_schema():
    """What /api/schema/ serves (to signed-in staff only, so read from its generator)."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(_served_schema())
schema.app = application
schema.location = "/api/schema/"
CURRENT_TOKEN = {}


@schema.auth(refresh_interval=None)
class TokenAuth:
    """Schemathesis sets (and, to probe, removes or spoils) the token itself."""

    def get(self, case, context):
        return CURRENT_TOKEN.get("key", "")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Calling the WSGI app directly fires request_started/finished, which would close the
    test's database connection; Django's test client disconnects them the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, staff, make_patient):
    """A token per role; each generated case is sent as every role in turn."""
    make_patient(name="模糊测试患者")
    return {role: api_token_create(membership=staff[role].memberships.get()) for role in staff}


@schema.parametrize()
# Derandomized in `make test`, so CI is reproducible; `make fuzz` explores with fresh seeds.
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, tokens):
    # Two checks judge input strictness, not the contract: a well-formed id of an object
    # that does not exist is rightly refused with 400 (positive_data_acceptance), and DRF
    # accepts a number where a string is expected and ignores unknown keys, on purpose
    # (negative_data_rejection). Server errors, undocumented statuses or content types and
    # responses that break the schema all fail.
    for role in Role:
        CURRENT_TOKEN["key"] = tokens[role.value]
        case.headers = {**(case.headers or {}), "Authorization": f"Token {tokens[role.value]}"}
        case.call_and_validate(excluded_checks=[positive_data_acceptance, negative_data_rejection])
