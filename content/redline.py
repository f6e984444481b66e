"""The red-line check and the clinic's sending rules live in wechat.redline, beside the
outbox and the composer (wechat.composer), so that welcomes are checked too; content's pages
and API keep calling them here."""

from wechat.redline import (  # noqa: F401
    DEFAULT_RED_LINES,
    SETTINGS_FIELDS,
    RedLineHit,
    content_settings_for,
    content_settings_update,
    emergency_notice_append,
    redline_check,
    redline_checker,
    redline_ensure,
    redline_message,
    redline_phrase_save,
)
