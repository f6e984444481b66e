"""The OpenAPI schema: its version is the last entry of the API changelog (docs/api.md), so
integrators reading either see the same number; and it is generated without a warning."""

import re
from pathlib import Path


def test_schema_version_is_the_last_changelog_entry(client, assistant):
    api_doc = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    changelog = api_doc.split("## API changelog", 1)[1]
    versions = re.findall(r"^- (\d+\.\d+\.\d+) —", changelog, flags=re.MULTILINE)
    assert versions, "no entries under ## API changelog"
    client.force_login(assistant)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["version"] == versions[-1]


def test_schema_generates_without_warnings(tmp_path):
    """A warning means a guessed type or a lost parameter (the list filters were missing
    while the viewsets' querysets needed a request), which integrators would not see."""
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    schema = target.read_text()
    assert "last_visit_after" in schema and "has_wecom" in schema
