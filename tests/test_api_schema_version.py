"""The OpenAPI schema's version is the last entry of the README's API changelog, so
integrators reading either see the same number."""

import re
from pathlib import Path


def test_schema_version_is_the_last_changelog_entry(client, assistant):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    changelog = readme.split("### API changelog", 1)[1]
    versions = re.findall(r"^- (\d+\.\d+\.\d+) —", changelog, flags=re.MULTILINE)
    assert versions, "no entries under ### API changelog"
    client.force_login(assistant)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["version"] == versions[-1]
