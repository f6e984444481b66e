"""The UI speaks Simplified Chinese: every UI string has a translation, and the compiled
catalogue the app loads (.mo) matches the source catalogue (.po). `make messages` refreshes both."""

import gettext
import re

import pytest
from django.conf import settings

CATALOGUES = sorted(settings.BASE_DIR.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")) + [
    settings.BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
]
CATALOGUES = [po for po in CATALOGUES if ".venv" not in po.parts]


def _entries(po):
    text = po.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        if "msgid_plural" in block:
            continue
        match = re.search(r"^msgid ((?:\".*\"\n)+)msgstr ((?:\".*\"\n?)+)", block, re.M)
        if not match:
            continue

        def join(quoted):
            return "".join(
                bytes(s, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
                for s in re.findall(r'"((?:[^"\\]|\\.)*)"', quoted)
            )

        msgid, msgstr = join(match.group(1)), join(match.group(2))
        context = re.search(r"^msgctxt ((?:\".*\"\n)+)", block, re.M)
        if msgid:
            yield (join(context.group(1)) if context else None, msgid), msgstr, "#, fuzzy" in block


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.parent.parent.parent.parent.name))
def test_every_string_is_translated_and_none_is_fuzzy(po):
    entries = list(_entries(po))
    assert entries
    assert [m for m, s, _ in entries if not s] == []
    assert [m for m, _, fuzzy in entries if fuzzy] == []


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.parent.parent.parent.parent.name))
def test_compiled_catalogue_matches_the_source(po):
    with open(po.with_suffix(".mo"), "rb") as f:
        catalogue = gettext.GNUTranslations(f)
    stale = [
        (context, msgid)
        for (context, msgid), msgstr, _ in _entries(po)
        if (catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)) != msgstr
    ]
    assert stale == []


def test_a_string_translates_the_same_in_every_catalogue():
    """Django merges the catalogues and the first one wins, so two translations of one msgid
    would silently show the other app's wording. Use a distinct msgid or a context instead."""
    seen = {}
    for po in CATALOGUES:
        for (context, msgid), msgstr, _fuzzy in _entries(po):
            seen.setdefault((context, msgid), {})[po.parts[-5]] = msgstr
    conflicts = {key: found for key, found in seen.items() if len(set(found.values())) > 1}
    assert conflicts == {}
