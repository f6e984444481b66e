"""The shape of the code: dependencies point one way, and every app ships in the wheel.

crm <- patients <- wechat <- followups <- content <- doctors. An app may import its own
modules and those of the layers below it, never a layer above. The root
URLconf (crm/urls.py) is the one module of crm that names the apps."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LAYER = {"crm": 0, "patients": 1, "wechat": 2, "followups": 3, "content": 4, "doctors": 5}
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
    assert "patients/templates/patients/workbench.html" in names
    assert "patients/static/patients/workbench.js" in names
    assert "patients/locale/zh_Hans/LC_MESSAGES/django.mo" in names
