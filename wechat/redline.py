"""The red-line check (合规检查) and the clinic's sending rules.

`redline_check` is small on purpose: welcome messages, doctor scripts, templates, articles
and campaigns all call it on the text a patient would read.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from wechat.models import ContentSettings, RedLinePhrase

_AD_LAW = "承诺疗效，违反《医疗广告管理办法》"
# Seeded for every clinic on first use; the clinic edits them afterwards.
DEFAULT_RED_LINES = [
    ("根治", _AD_LAW),
    ("包治", _AD_LAW),
    ("保证治愈", _AD_LAW),
    ("药到病除", _AD_LAW),
    ("永不复发", _AD_LAW),
    ("100%有效", _AD_LAW),
    ("治愈率", "宣传治愈率、有效率，违反《医疗广告管理办法》"),
    ("有效率", "宣传治愈率、有效率，违反《医疗广告管理办法》"),
    ("无副作用", "说明疗效和安全性的绝对化用语，违反《医疗广告管理办法》"),
    ("无效退款", "承诺疗效或以退款作保证，违反《医疗广告管理办法》"),
    ("最好的医院", "绝对化用语，违反《广告法》"),
    ("最佳疗效", "绝对化用语，违反《广告法》"),
    ("第一名医", "绝对化用语，违反《广告法》"),
    ("祖传秘方", "以秘方、祖传为宣传，违反《医疗广告管理办法》"),
    ("特效药", "夸大疗效，违反《医疗广告管理办法》"),
    ("神医", "利用医生形象作疗效证明，违反《医疗广告管理办法》"),
    ("康复患者现身说法", "利用患者名义作证明，违反《医疗广告管理办法》"),
]


@dataclass(frozen=True)
class RedLineHit:
    phrase: str
    reason: str


def content_settings_for(*, clinic) -> ContentSettings:
    """The clinic's settings; the first call also seeds the default red lines."""
    existing = ContentSettings.objects.filter(clinic=clinic).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            settings = ContentSettings.objects.create(clinic=clinic)
            RedLinePhrase.objects.bulk_create(
                [RedLinePhrase(clinic=clinic, phrase=p, reason=r) for p, r in DEFAULT_RED_LINES],
                ignore_conflicts=True,
            )
            return settings
    except IntegrityError:  # another request created them first
        return ContentSettings.objects.get(clinic=clinic)


def content_settings_get(*, clinic) -> ContentSettings:
    """The clinic's settings for a read (a page's or the API's GET), which never writes: the row
    clinic_setup made, or for a clinic made without it the defaults, unsaved, until a write
    (content_settings_update, redline_phrase_save) makes them."""
    existing = ContentSettings.objects.filter(clinic=clinic).first()
    return existing if existing is not None else ContentSettings(clinic=clinic)


def clinic_setup(*, clinic) -> None:
    """A new clinic's sending rules and default red lines (settings.CLINIC_SETUP_STEPS, run by
    patients.clinic_defaults.clinic_setup_defaults); clinics from before: migration wechat 0009."""
    content_settings_for(clinic=clinic)


def _normalise(text: str) -> str:
    """Full-width letters and digits to half-width (１００％ → 100%), lower case, no spaces,
    so that 包 治 or １００％有效 do not slip through."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in text if not ch.isspace())


def redline_checker(*, clinic) -> Callable[[str], list[RedLineHit]]:
    """A check of any number of texts against the clinic's active phrases, read once (on
    the first text that is not empty): a list of drafts costs no query per row. It only reads:
    a clinic's default phrases come with its set-up (clinic_setup)."""
    phrases: list[tuple[str, RedLineHit]] | None = None

    def check(text: str) -> list[RedLineHit]:
        nonlocal phrases
        haystack = _normalise(text)
        if not haystack:
            return []
        if phrases is None:
            rows = RedLinePhrase.objects.filter(clinic=clinic, is_active=True)
            phrases = [
                (_normalise(phrase), RedLineHit(phrase=phrase, reason=reason))
                for phrase, reason in rows.values_list("phrase", "reason")
            ]
        return [hit for needle, hit in phrases if needle and needle in haystack]

    return check


def redline_check(*, clinic, text: str) -> list[RedLineHit]:
    """The clinic's active red-line phrases found in `text`, each with its reason."""
    return redline_checker(clinic=clinic)(text)


def redline_message(hits: list[RedLineHit]) -> str:
    return _("The text contains forbidden claims: %(hits)s") % {
        "hits": "；".join(f"“{hit.phrase}”（{hit.reason}）" for hit in hits)
    }


def redline_ensure(*, clinic, text: str, field: str = "body") -> None:
    """Raise a ValidationError naming every hit and why; nothing is saved or sent."""
    hits = redline_check(clinic=clinic, text=text)
    if hits:
        raise ValidationError({field: [redline_message(hits)]})


def notice_appended(settings: ContentSettings, text: str) -> str:
    """`text` with the clinic's emergency notice at the end where its settings turn it on;
    never twice, nor after a text that already tells the patient to dial 120."""
    notice = settings.emergency_notice.strip()
    if not settings.emergency_notice_enabled or not notice or notice in text:
        return text
    if re.search(r"拨打\s*120", text):
        return text
    return f"{text.rstrip()}\n\n{notice}"


def emergency_notice_append(*, clinic, text: str) -> str:
    """The emergency notice (急症请立即就医或拨打120) at the end of a patient-facing
    message, where the clinic turns it on; never twice."""
    return notice_appended(content_settings_get(clinic=clinic), text)


@transaction.atomic
def redline_phrase_save(
    *, clinic, phrase: str, reason: str, is_active: bool = True, instance=None
) -> RedLinePhrase:
    content_settings_for(clinic=clinic)
    phrase = (phrase or "").strip()
    if not phrase:
        raise ValidationError({"phrase": [_("Enter the phrase.")]})
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the phrase is forbidden.")]})
    others = RedLinePhrase.objects.filter(clinic=clinic, phrase=phrase)
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    if others.exists():
        raise ValidationError({"phrase": [_("This phrase is already on the list.")]})
    row = instance or RedLinePhrase(clinic=clinic)
    row.phrase, row.reason, row.is_active = phrase, reason.strip(), is_active
    row.save()
    return row


SETTINGS_FIELDS = (
    "emergency_notice_enabled",
    "emergency_notice",
    "per_customer_daily_cap",
    "per_customer_weekly_cap",
    "campaigns_per_day_cap",
)


@transaction.atomic
def content_settings_update(*, clinic, **changes) -> ContentSettings:
    """Change the clinic's sending rules; the emergency notice cannot be emptied."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Unknown content settings: {sorted(unknown)}")
    settings = content_settings_for(clinic=clinic)
    if "emergency_notice" in changes and not (changes["emergency_notice"] or "").strip():
        raise ValidationError({"emergency_notice": [_("Enter the emergency notice.")]})
    for field, value in changes.items():
        setattr(settings, field, value.strip() if isinstance(value, str) else value)
    settings.save()
    return settings
