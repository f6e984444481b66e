"""The shape of the code: dependencies point one way, and every app ships in the wheel.

crm <- patients <- wechat <- followups <- content <- doctors <- workspace. An app may import its
own modules and those of the layers below it, never a layer above; its templates may include or
extend, and load the static files of, only its own app and the layers below (the pages that
compose several apps are workspace's). The root URLconf (crm/urls.py) is the one module of crm
that names the apps; the project's templates/ are crm's."""

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LAYER = {
    "crm": 0,
    "patients": 1,
    "wechat": 2,
    "followups": 3,
    "content": 4,
    "doctors": 5,
    "workspace": 6,
}
# Modules that compose every app on purpose: the URLconf, and the Celery app's task discovery.
COMPOSERS = {Path("crm/urls.py")}


def imported_apps(path: Path) -> set[tuple[str, int]]:
    """(app, line) for every import of one of our apps in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in LAYER:
                found.add((top, node.lineno))
    return found


def upward_imports() -> list[str]:
    wrong = []
    for app, layer in LAYER.items():
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in COMPOSERS:
                continue
            for other, line in imported_apps(path):
                if LAYER[other] > layer:
                    wrong.append(f"{relative}:{line} imports {other}")
    return wrong


def test_no_app_imports_a_layer_above_or_beside_it():
    assert upward_imports() == []


# {% include "app/…" %}, {% extends "app/…" %} and {% static 'app/…' %} name another app's
# template or static file by its first path segment (an app's own directory under templates/ or
# static/).
TEMPLATE_REFERENCE = re.compile(
    r"""{%-?\s*(include|extends|static)\s+["']([A-Za-z_]+)/[^"']*["']"""
)

VERB = {"include": "includes", "extends": "extends", "static": "loads a static file of"}


def template_dirs() -> list[tuple[str, Path]]:
    """(app, directory) for every app's templates and the project's (crm's)."""
    dirs = [(app, ROOT / app / "templates") for app in LAYER]
    return dirs + [("crm", ROOT / "templates")]


def upward_template_references() -> list[str]:
    wrong = []
    for app, directory in template_dirs():
        for path in sorted(directory.rglob("*.html")):
            text = path.read_text(encoding="utf-8")
            for match in TEMPLATE_REFERENCE.finditer(text):
                tag, other = match.groups()
                if other in LAYER and LAYER[other] > LAYER[app]:
                    line = text.count("\n", 0, match.start()) + 1
                    wrong.append(f"{path.relative_to(ROOT)}:{line} {VERB[tag]} {other}")
    return wrong


def test_no_template_includes_extends_or_loads_a_layer_above():
    """A page that shows another app's panel sits above it (workspace), so includes point down."""
    assert upward_template_references() == []


def test_the_check_sees_an_upward_include_extends_and_script(tmp_path, monkeypatch):
    fake_root = tmp_path
    for app in LAYER:
        (fake_root / app / "templates" / app).mkdir(parents=True)
    (fake_root / "templates").mkdir()
    (fake_root / "patients" / "templates" / "patients" / "page.html").write_text(
        '{% extends "base.html" %}\n{% include "followups/_panel.html" %}\n'
        "<script src=\"{% static 'content/panel.js' %}\"></script>\n"
    )
    (fake_root / "followups" / "templates" / "followups" / "ok.html").write_text(
        "{% include 'patients/_no_ward.html' %}<script src=\"{% static 'patients/x.js' %}\">"
    )
    (fake_root / "workspace" / "templates" / "workspace" / "page.html").write_text(
        '{% include "followups/_panel.html" %}{% include "content/_panel.html" %}'
    )
    (fake_root / "templates" / "base.html").write_text('{%include "wechat/_menu.html"%}')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert upward_template_references() == [
        "patients/templates/patients/page.html:2 includes followups",
        "patients/templates/patients/page.html:3 loads a static file of content",
        "templates/base.html:1 includes wechat",
    ]


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule above can fail: a patients module importing wechat is reported."""
    fake_root = tmp_path
    for app in LAYER:
        (fake_root / app).mkdir()
    (fake_root / "patients" / "bad.py").write_text("from wechat.outbox import x\n")
    (fake_root / "wechat" / "good.py").write_text("import patients.models\n")
    (fake_root / "followups" / "up.py").write_text("from content import services\n")
    (fake_root / "content" / "down.py").write_text("from followups import services\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert upward_imports() == [
        "patients/bad.py:1 imports wechat",
        "followups/up.py:1 imports content",
    ]


@pytest.mark.slow
def test_the_wheel_ships_every_app(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("careloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for app in LAYER:
        assert f"{app}/__init__.py" in names, app
        assert f"{app}/migrations/__init__.py" in names, app
    # Templates, static files and catalogues travel with their app.
    assert "workspace/templates/workspace/workbench.html" in names
    assert "workspace/static/workspace/workbench.js" in names
    assert "patients/locale/zh_Hans/LC_MESSAGES/django.mo" in names
