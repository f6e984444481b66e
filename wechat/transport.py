"""The only code that knows wechatpy. Everything that calls WeCom goes through here.

WeCom answers errors as JSON errcodes; they are mapped to one error type with a
`permanent` flag. The base URL is a setting, so our fake WeCom stands in for tests
and demos and nothing else knows the difference.
"""

import time

import requests
from django.conf import settings
from django.core.cache import cache
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.work import WeChatClient

TIMEOUT = (3.05, 10)  # connect, read: every HTTP call has a timeout

# The access token was revoked or expired: refresh it and try once more.
TOKEN_ERRORS = {40001, 40014, 42001, 42007}
# Busy or rate-limited: try again later with backoff.
TRANSIENT_ERRORS = {-1, 45009, 45033, 45035, 130101, 44004}
# The welcome code is valid 20 s and usable once.
EXPIRED_ERRORS = {41051, 41054, 41055, 40098}


class WeComError(Exception):
    def __init__(self, message, *, errcode=None, permanent=False, expired=False):
        super().__init__(message)
        self.errcode = errcode
        self.permanent = permanent
        self.expired = expired

    @classmethod
    def from_errcode(cls, errcode, errmsg=""):
        message = f"WeCom {errcode}: {errmsg}".strip()
        if errcode in EXPIRED_ERRORS:
            return cls(message, errcode=errcode, permanent=True, expired=True)
        if errcode in TRANSIENT_ERRORS or errcode in TOKEN_ERRORS:
            return cls(message, errcode=errcode)
        return cls(message, errcode=errcode, permanent=True)


class DjangoCacheStorage(SessionStorage):
    """wechatpy's token storage on Django's cache: one token per corp, shared by all
    web and worker processes (Redis in production, a file cache in the demo)."""

    prefix = "wecom:"

    def get(self, key, default=None):
        return cache.get(self.prefix + key, default)

    def set(self, key, value, ttl=None):
        cache.set(self.prefix + key, value, ttl)

    def delete(self, key):
        cache.delete(self.prefix + key)


class WeComClient(WeChatClient):
    """wechatpy's WeCom client, pointed at WECOM_API_BASE_URL.

    wechatpy hard-codes the real gettoken URL and calls it without a timeout; both are
    fixed here. Its own token retry is turned off: `call` retries once, bounded.
    """

    def __init__(self, corp_id, secret):
        super().__init__(
            corp_id, secret, session=DjangoCacheStorage(), timeout=TIMEOUT, auto_retry=False
        )
        self.API_BASE_URL = settings.WECOM_API_BASE_URL

    def fetch_access_token(self):
        try:
            return self._fetch_access_token(
                url=self.API_BASE_URL + "gettoken",
                params={"corpid": self.corp_id, "corpsecret": self.secret},
            )
        except requests.RequestException as exc:
            raise WeComError(f"gettoken: {exc}") from exc

    def _fetch_access_token(self, url, params):
        original_get = self._http.get

        def get_with_timeout(*args, **kwargs):
            kwargs.setdefault("timeout", TIMEOUT)
            return original_get(*args, **kwargs)

        self._http.get = get_with_timeout
        try:
            return super()._fetch_access_token(url, params)
        finally:
            self._http.get = original_get

    def forget_token(self):
        self.session.delete(self.access_token_key)
        self.expires_at = None


def client_for(account) -> WeComClient:
    return WeComClient(account.corp_id, account.secret)


def call(client: WeComClient, fn, *args, **kwargs):
    """Run one wechatpy call; map its failures to WeComError; on a token error refresh
    the token and retry exactly once."""
    for attempt in (1, 2):
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            errcode = exc.errcode
            if errcode is None:  # HTTP error (5xx) or an unreadable answer
                raise WeComError(f"WeCom HTTP error: {exc}") from exc
            if errcode in TOKEN_ERRORS and attempt == 1:
                client.forget_token()
                client.fetch_access_token()
                continue
            raise WeComError.from_errcode(errcode, exc.errmsg) from exc
        except requests.RequestException as exc:
            raise WeComError(f"WeCom unreachable: {exc.__class__.__name__}") from exc
    raise AssertionError("unreachable")


def send_app_message(account, *, userid: str, text: str) -> str:
    """A text message from the clinic's app to one staff member. Returns WeCom's msgid."""
    client = client_for(account)
    result = call(
        client,
        client.message.send,
        account.agent_id,
        userid,
        # WeCom's own duplicate check: the same text to the same member within 30 minutes
        # is delivered once, which covers a resend after a worker died mid-call.
        msg={
            "msgtype": "text",
            "text": {"content": text},
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        },
    )
    if result.get("invaliduser"):
        raise WeComError(f"WeCom refused user {userid}", errcode=81013, permanent=True)
    return str(result.get("msgid", ""))


def send_robot_message(account, *, text: str) -> str:
    """A text message to the team's group robot (a webhook; wechatpy has no helper)."""
    key = account.robot_key
    if not key:
        raise WeComError("This clinic has no group robot configured.", permanent=True)
    url = settings.WECOM_API_BASE_URL + "webhook/send"
    try:
        response = requests.post(
            url,
            params={"key": key},
            json={"msgtype": "text", "text": {"content": text}},
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        result = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise WeComError(f"WeCom robot unreachable: {exc.__class__.__name__}") from exc
    if result.get("errcode", 0) != 0:
        raise WeComError.from_errcode(result["errcode"], result.get("errmsg", ""))
    return ""


def add_msg_template(account, *, sender: str, external_userids: list[str], text: str) -> str:
    """A customer message the staff member `sender` confirms in WeCom. Returns WeCom's msgid."""
    client = client_for(account)
    template = {
        "chat_type": "single",
        "external_userid": external_userids,
        "sender": sender,
        "text": {"content": text},
    }
    result = call(client, client.external_contact.add_msg_template, template)
    return str(result.get("msgid", ""))


def send_welcome_msg(account, *, welcome_code: str, text: str, link: dict | None = None) -> None:
    client = client_for(account)
    template = {"welcome_code": welcome_code, "text": {"content": text}}
    if link:
        template["attachments"] = [{"msgtype": "link", "link": link}]
    call(client, client.external_contact.send_welcome_msg, template)


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
