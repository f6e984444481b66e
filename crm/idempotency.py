"""Create forms safe against a double click: the page renders a one-time token, the create
runs once per token. A second submission with the same token (a double click, a browser
resend, a retried API call with the same `Idempotency-Key`) gets the first one's record."""

import secrets
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

from crm.models import Clinic, SubmissionToken

TOKEN_MAX_LENGTH = 64
T = TypeVar("T")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def submit_once(
    *, clinic: Clinic, kind: str, token: str, create: Callable[[], T], find: Callable[[int], T]
) -> tuple[T, bool]:
    """`create()` once per (clinic, kind, token): returns (record, created). Without a token it
    just creates. The token row is written in the create's transaction, so a create refused
    with a ValidationError leaves the token free for the corrected form. A concurrent second
    submission waits on the token's unique index until the first commits, then finds it."""
    token = (token or "").strip()[:TOKEN_MAX_LENGTH]
    if not token:
        return create(), True
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = SubmissionToken.objects.create(clinic=clinic, kind=kind, token=token)
        except IntegrityError:
            row = SubmissionToken.objects.get(clinic=clinic, kind=kind, token=token)
            return find(row.object_id), False
        record = create()
        row.object_id = record.pk
        row.save(update_fields=["object_id"])
        return record, True
