"""The WeCom callback inbox: verify, decrypt, store; then process in a worker.

POST /wechat/callback/<clinic>/ ─ size cap, XML without DTD/entities, msg_signature, replay
window, AES-256-CBC decrypt, corp id ─> CallbackEvent (unique per clinic on a hash of the
event) ─> "success". A worker (task enqueued on commit, or the beat scan) processes each
event once; a duplicate delivery of the same event is stored nowhere and answered success.
"""

import hashlib
import json
import logging
import time
from datetime import timedelta
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from crm.models import Clinic
from wechat import transport
from wechat.models import CallbackEvent, CallbackStatus, WeComAccount

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # WeCom's event packets are a few hundred bytes
REPLAY_WINDOW = 300  # seconds: older (or future) event POSTs are refused
SCAN_GRACE = timedelta(seconds=10)  # the task enqueued on commit normally wins
RETRY_DELAYS = (10, 60, 300, 1800)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Events that change a contact; everything else is stored and ignored.
CONTACT_CHANGES = {
    "add_external_contact",
    "add_half_external_contact",
    "edit_external_contact",
    "del_external_contact",
    "del_follow_user",
}

# Customer-group events (change_external_chat): each refreshes its group.
CHAT_CHANGES = {"create", "update", "dismiss"}


class CallbackError(Exception):
    """Refuse the callback with this HTTP status. Nothing is stored."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def account_for_callback(*, slug: str) -> WeComAccount:
    """The clinic's WeCom account with callback keys, or 404."""
    account = (
        WeComAccount.objects.select_related("clinic")
        .filter(clinic__slug=slug)
        .exclude(callback_token_encrypted="")
        .exclude(encoding_aes_key_encrypted="")
        .first()
    )
    if account is None:
        raise Http404
    return account


def callback_url(*, clinic: Clinic) -> str:
    from django.conf import settings
    from django.urls import reverse

    return settings.SITE_URL.rstrip("/") + reverse("wechat:callback", args=[clinic.slug])


def _keys(account: WeComAccount) -> dict:
    return {
        "token": account.callback_token,
        "aes_key": account.encoding_aes_key,
        "corp_id": account.corp_id,
    }


def _required(params, *names) -> list[str]:
    values = [params.get(name, "") for name in names]
    missing = [name for name in names if not params.get(name, "")]
    if missing:
        raise CallbackError(400, "missing " + ", ".join(missing))
    return values


def callback_verify_url(*, account: WeComAccount, params) -> str:
    """GET: WeCom checks the URL once, at setup. The replay window does not apply."""
    signature, timestamp, nonce, echostr = _required(
        params, "msg_signature", "timestamp", "nonce", "echostr"
    )
    try:
        return transport.callback_verify_url(
            **_keys(account), signature=signature, timestamp=timestamp, nonce=nonce, echostr=echostr
        )
    except transport.CallbackRejected as exc:
        raise CallbackError(403, str(exc)) from exc


def parse_xml(data: bytes | str) -> dict[str, str]:
    """The fields of a WeCom XML packet (`<xml><Field>…</Field>…</xml>`). Refuses DTDs,
    entity declarations and anything that is not well-formed."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise CallbackError(400, f"malformed XML: {exc.__class__.__name__}") from exc
    if root.tag != "xml":
        raise CallbackError(400, "malformed XML: not a WeCom packet")
    fields = {}
    for child in root:
        if len(child):  # nested structures are kept as their canonical text
            fields[child.tag] = json.dumps(
                [(e.tag, (e.text or "").strip()) for e in child.iter()], ensure_ascii=False
            )
        else:
            fields[child.tag] = (child.text or "").strip()
    return fields


def event_key(fields: dict[str, str]) -> str:
    """The event's natural key: every field of the decrypted event (WeCom resends the same
    event with the same CreateTime), hashed."""
    canonical = json.dumps(sorted(fields.items()), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def callback_receive(
    *, account: WeComAccount, params, body: bytes, now: float | None = None
) -> tuple[CallbackEvent | None, bool]:
    """POST: verify, decrypt, store. Returns (event, created); a duplicate is (existing, False).
    Raises CallbackError (4xx) for anything that must not be trusted; nothing is stored then."""
    if len(body) > MAX_BODY_BYTES:
        raise CallbackError(413, "body too large")
    signature, timestamp, nonce = _required(params, "msg_signature", "timestamp", "nonce")
    envelope = parse_xml(body)
    encrypt = envelope.get("Encrypt", "")
    if not encrypt:
        raise CallbackError(400, "malformed XML: no Encrypt")
    try:
        plaintext = transport.callback_decrypt(
            **_keys(account), signature=signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt
        )
    except transport.CallbackRejected as exc:
        raise CallbackError(403, str(exc)) from exc
    # The timestamp is covered by the signature, so it is checked after it.
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise CallbackError(400, "bad timestamp") from exc
    if abs((now or time.time()) - sent_at) > REPLAY_WINDOW:
        raise CallbackError(403, "timestamp outside the replay window")
    fields = parse_xml(plaintext)
    if fields.get("ToUserName") != account.corp_id:
        raise CallbackError(403, "another corp id")
    return callback_event_store(account=account, fields=fields, xml=plaintext)


def callback_event_store(
    *, account: WeComAccount, fields: dict[str, str], xml: str
) -> tuple[CallbackEvent, bool]:
    """Store the event once; the first store wakes a worker after commit."""
    key = event_key(fields)
    now = timezone.now()
    try:
        with transaction.atomic():
            event = CallbackEvent.objects.create(
                clinic_id=account.clinic_id,
                dedupe_key=key,
                event=(fields.get("Event") or fields.get("MsgType", ""))[:64],
                change_type=fields.get("ChangeType", "")[:64],
                xml=xml,
                received_at=now,
                next_attempt_at=now + SCAN_GRACE,
            )
    except IntegrityError:
        existing = CallbackEvent.objects.get(clinic_id=account.clinic_id, dedupe_key=key)
        return existing, False
    from wechat.tasks import callback_process_task

    transaction.on_commit(lambda: callback_process_task.delay(event.pk), robust=True)
    return event, True


# Processing ----------------------------------------------------------------------------


def callback_event_process(event_id: int) -> str:
    """Process one stored event. Safe to call twice: the row is locked and re-checked."""
    from wechat import contacts, groupchats, outbox, sync

    event = (
        CallbackEvent.objects.select_related("clinic__wecom_account")
        .filter(pk=event_id, status=CallbackStatus.PENDING)
        .first()
    )
    if event is None:
        return "not-pending"
    fields = parse_xml(event.xml)
    account = event.clinic.wecom_account
    kind = fields.get("Event", "")
    change = fields.get("ChangeType", "")
    try:
        # Reads from WeCom happen before the row is locked; they change nothing.
        prepared, send_now, chat = None, [], None
        if kind == "change_external_contact" and change in CONTACT_CHANGES:
            prepared = contacts.contact_event_prepare(account=account, fields=fields)
        elif kind == "change_external_chat" and change in CHAT_CHANGES:
            chat = groupchats.chat_event_prepare(account=account, fields=fields)
        with transaction.atomic():
            locked = (
                CallbackEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event.pk, status=CallbackStatus.PENDING)
                .first()
            )
            if locked is None:
                return "not-pending"
            if prepared is not None:
                send_now = contacts.contact_event_apply(
                    account=account, fields=fields, prepared=prepared, event=locked
                )
                status = CallbackStatus.PROCESSED
            elif chat is not None:
                groupchats.chat_event_apply(account=account, prepared=chat)
                status = CallbackStatus.PROCESSED
            elif kind == "change_external_tag":
                sync.corp_tags_sync(account=account)
                status = CallbackStatus.PROCESSED
            else:
                status = CallbackStatus.IGNORED
            CallbackEvent.objects.filter(pk=event.pk).update(
                status=status, processed_at=timezone.now(), attempts=locked.attempts + 1, error=""
            )
    except Exception as exc:  # recorded on the row and retried by the scan
        logger.exception("WeCom callback %s failed", event.pk)
        return _failed(event, exc)
    # The welcome code is valid 20 s: this worker sends it now rather than queueing it behind
    # other callbacks. The task enqueued on commit then finds it claimed ("not-due").
    for delivery_id in send_now:
        try:
            outbox.delivery_send(delivery_id)
        except Exception:  # the outbox's own retry and the beat scan take over
            logger.exception("Sending delivery %s after callback %s failed", delivery_id, event.pk)
    return str(status)


def _failed(event: CallbackEvent, exc: Exception) -> str:
    attempts = event.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        CallbackEvent.objects.filter(pk=event.pk, status=CallbackStatus.PENDING).update(
            status=CallbackStatus.FAILED,
            attempts=attempts,
            error=repr(exc)[:2000],
            processed_at=timezone.now(),
        )
        return "gave-up"
    delay = RETRY_DELAYS[attempts - 1]
    CallbackEvent.objects.filter(pk=event.pk, status=CallbackStatus.PENDING).update(
        attempts=attempts,
        error=repr(exc)[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return "retry"


def callback_events_due_ids(*, now=None, limit=500) -> list[int]:
    now = now or timezone.now()
    return list(
        CallbackEvent.objects.filter(status=CallbackStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
