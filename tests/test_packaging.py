"""The wheel holds every app of ours with its templates, static files, translations and
migrations (issue 18: `doctors` was once left out of pyproject.toml's packages)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
OURS = ["crm", "patients", "wechat", "followups", "content", "doctors", "workspace"]
PARTS = ("templates", "static", "locale", "migrations")


def _source_files():
    """The checkout's files as git sees them (tracked, and new ones not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    """Build the wheel from a copy of the checkout (the build's own build/ and egg-info stay
    out of the worktree), without installing anything."""
    source = tmp_path_factory.mktemp("source")
    for name in _source_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("careloop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_our_apps_are_the_installed_ones():
    installed = [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").is_file()]
    assert set(installed) - {"bench"} == set(OURS)


@pytest.mark.slow
def test_the_wheel_holds_every_app_with_its_templates_static_locale_and_migrations(wheel_names):
    sources = _source_files()
    for app in OURS:
        modules = [n for n in sources if n.startswith(f"{app}/") and n.endswith(".py")]
        assert modules, app
        missing = [n for n in modules if n not in wheel_names]
        assert missing == [], (app, missing[:10])
        for part in PARTS:
            files = [n for n in sources if n.startswith(f"{app}/{part}/")]
            missing = [n for n in files if n not in wheel_names]
            assert missing == [], (app, part, missing[:10])
        assert f"{app}/apps.py" in wheel_names
    # Each app that has them ships them: a part that is gone from the tree shows here.
    for app, part in [(a, p) for a in OURS for p in PARTS if (ROOT / a / p).is_dir()]:
        assert any(n.startswith(f"{app}/{part}/") for n in wheel_names), (app, part)
    for app in ("patients", "wechat", "followups", "content", "doctors", "workspace"):
        assert any(n.startswith(f"{app}/locale/zh_Hans/") for n in wheel_names), app
    # The benchmarks and the tests stay out of the wheel.
    assert not any(n.startswith(("bench/", "tests/")) for n in wheel_names)
