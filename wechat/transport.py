"""The only code that knows wechatpy. Everything that calls WeCom goes through here.

WeCom answers errors as JSON errcodes; they are mapped to one error type with a
`permanent` flag. The base URL is a setting, so our fake WeCom stands in for tests
and demos and nothing else knows the difference.
"""

import binascii
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from django.conf import settings
from django.core.cache import cache
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.work import WeChatClient
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

TIMEOUT = (3.05, 10)  # connect, read: every HTTP call has a timeout
TOKEN_REFRESH_MARGIN = 300  # seconds before the token's expiry when a new one is fetched

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

    def get_many(self, keys) -> dict:
        found = cache.get_many([self.prefix + key for key in keys])
        return {key: found.get(self.prefix + key) for key in keys}

    def set(self, key, value, ttl=None):
        if ttl and key.endswith("_access_token"):
            # Refresh before WeCom's expiry (7200 s), so no call meets an expired token.
            ttl = max(int(ttl) - TOKEN_REFRESH_MARGIN, 60)
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

    @property
    def access_token(self):
        """wechatpy's, with the token and its expiry read in one cache round trip (it
        makes two or three per call)."""
        memo = getattr(_local, "tokens", None)
        if memo is not None and self.access_token_key in memo:
            return memo[self.access_token_key]
        found = self.session.get_many([self.access_token_key, self.access_token_expires_at_key])
        token, expires_at = found[self.access_token_key], found[self.access_token_expires_at_key]
        if not token or (expires_at and expires_at - time.time() <= 60):
            self.fetch_access_token()
            token = self.session.get(self.access_token_key)
        if memo is not None:
            memo[self.access_token_key] = token
        return token

    def forget_token(self):
        (getattr(_local, "tokens", None) or {}).pop(self.access_token_key, None)
        self.session.delete(self.access_token_key)
        self.expires_at = None


_local = threading.local()  # per thread: requests sessions are not shared across threads


def client_for(account) -> WeComClient:
    """This thread's client for the account, kept between calls so that its HTTP session
    (keep-alive) is reused: a new connection per message was a good part of each send.
    The token lives in the shared cache, not in the client."""
    clients = _local.__dict__.setdefault("clients", {})
    key = (account.corp_id, account.secret, settings.WECOM_API_BASE_URL)
    client = clients.get(key)
    if client is None:
        client = clients[key] = WeComClient(account.corp_id, account.secret)
        _read_environment_once(client._http)
    return client


def _http() -> requests.Session:
    """This thread's session for the plain-HTTP endpoints (the group robot)."""
    session = getattr(_local, "http", None)
    if session is None:
        session = _local.http = requests.Session()
        _read_environment_once(session)
    return session


@contextmanager
def token_reuse():
    """Within this block (a sender's batch, a second or so) a client reads its token from
    the cache once, not once per call. A token revoked meanwhile is answered with a
    token error, and `call` refreshes it and retries once, as for any other call."""
    _local.tokens = {}
    try:
        yield
    finally:
        _local.tokens = None


def _read_environment_once(session: requests.Session) -> None:
    """requests reads the proxy variables from the whole environment on every request
    (about a millisecond of CPU a message); read them once, when the session is made."""
    session.proxies.update(requests.utils.get_environ_proxies(settings.WECOM_API_BASE_URL))
    session.trust_env = False


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
        response = _http().post(
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


MASS_MAX_RECIPIENTS = 10_000  # external_userids in one add_msg_template


def add_msg_template(
    account, *, sender: str, external_userids: list[str], text: str
) -> tuple[str, list[str]]:
    """A mass-message task (企业群发) for the customers `external_userids` of staff member
    `sender`: WeCom sends nothing until the sender confirms it in their client. Returns
    WeCom's msgid and its fail_list (the customers it cannot be sent to)."""
    client = client_for(account)
    template = {
        "chat_type": "single",
        "external_userid": external_userids,
        "sender": sender,
        "text": {"content": text},
    }
    result = call(client, client.external_contact.add_msg_template, template)
    return str(result.get("msgid", "")), list(result.get("fail_list") or [])


def add_group_msg_template(account, *, sender: str, chat_ids: list[str], text: str) -> str:
    """A mass-message task for customer groups (客户群群发) of their owner `sender`, sent
    when the owner confirms it in their client. Returns WeCom's msgid."""
    client = client_for(account)
    template = {
        "chat_type": "group",
        "sender": sender,
        "chat_id_list": chat_ids,
        "text": {"content": text},
    }
    result = call(client, client.external_contact.add_msg_template, template)
    return str(result.get("msgid", ""))


def _paged(client, path: str, data: dict, rows: str) -> Iterator[dict]:
    cursor = ""
    while True:
        page = call(client, client.post, path, data={**data, "cursor": cursor})
        yield from page.get(rows) or []
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return


def groupmsg_list(account, *, start: int, end: int, chat_type: str = "single") -> Iterator[dict]:
    """The mass-message tasks created between the Unix times `start` and `end` (at most a
    month apart): msgid, create_time, text. Tasks made by the API carry no creator."""
    client = client_for(account)
    data = {"chat_type": chat_type, "start_time": start, "end_time": end, "filter_type": 0}
    return _paged(
        client, "externalcontact/get_groupmsg_list_v2", {**data, "limit": 100}, "group_msg_list"
    )


def groupmsg_task(account, *, msgid: str) -> list[dict]:
    """Per member of the task: userid and status (0 not sent yet, 2 sent)."""
    client = client_for(account)
    data = {"msgid": msgid, "limit": 1000}
    return list(_paged(client, "externalcontact/get_groupmsg_task", data, "task_list"))


def groupmsg_send_result(account, *, msgid: str, sender: str) -> Iterator[dict]:
    """Per customer of the task: external_userid and status (0 not sent, 1 sent, 2 not a
    contact, 3 already received a mass message). A group task's rows carry chat_id."""
    client = client_for(account)
    data = {"msgid": msgid, "userid": sender, "limit": 1000}
    return _paged(client, "externalcontact/get_groupmsg_send_result", data, "send_list")


def groupmsg_remind(account, *, msgid: str) -> None:
    """Notify the member again (WeCom allows three a day per task)."""
    client = client_for(account)
    call(client, client.post, "externalcontact/remind_groupmsg_send", data={"msgid": msgid})


def groupmsg_cancel(account, *, msgid: str) -> None:
    """Stop a task the member has not sent: it leaves their list."""
    client = client_for(account)
    call(client, client.post, "externalcontact/cancel_groupmsg_send", data={"msgid": msgid})


def send_welcome_msg(account, *, welcome_code: str, text: str, link: dict | None = None) -> None:
    client = client_for(account)
    template = {"welcome_code": welcome_code, "text": {"content": text}}
    if link:
        template["attachments"] = [{"msgtype": "link", "link": link}]
    call(client, client.external_contact.send_welcome_msg, template)


def add_contact_way(
    account, *, state: str, userids: list[str], remark: str = ""
) -> tuple[str, str]:
    """A "contact me" QR code (渠道活码) for `userids`, tagged with `state`.
    Returns (config_id, qr_code URL)."""
    client = client_for(account)
    result = call(
        client,
        client.external_contact.add_contact_way,
        # Always "multi-person" (2), even for one member: WeCom fixes the type at creation and
        # a single-person way takes exactly one user, so only type 2 can change its staff later.
        type=2,
        scene=2,  # a QR code
        remark=remark[:30] or None,
        skip_verify=True,
        state=state,
        user=userids,
    )
    return str(result.get("config_id", "")), str(result.get("qr_code", ""))


def update_contact_way(
    account, *, config_id: str, state: str, userids: list[str], remark: str = ""
) -> None:
    """New staff (the list replaces WeCom's) or remark for a contact way; the QR code, its
    config_id and its state stay, so printed codes keep working."""
    client = client_for(account)
    way = client.external_contact
    call(client, way.update_contact_way, config_id, remark[:30], state=state, user=userids)


def contact_way_type(account, *, config_id: str) -> int:
    """1 (single-person, exactly one user) or 2 (multi-person), as WeCom has it."""
    client = client_for(account)
    way = call(client, client.external_contact.get_contact_way, config_id).get("contact_way", {})
    return int(way.get("type") or 2)


def del_contact_way(account, *, config_id: str) -> None:
    """Delete a contact way: its QR code stops adding anyone."""
    client = client_for(account)
    call(client, client.external_contact.del_contact_way, config_id)


def contact_get(account, *, external_userid: str) -> dict:
    """An external contact's profile and its follow users (with their remarks and tags)."""
    client = client_for(account)
    return call(client, client.external_contact.get, external_userid)


def follow_users(account) -> list[str]:
    """The staff members who have the customer-contact feature."""
    client = client_for(account)
    return list(call(client, client.external_contact.get_follow_user_list).get("follow_user", []))


def contacts_of_user(account, *, userid: str, page_size: int = 100) -> Iterator[dict]:
    """Every external contact of one staff member, page by page (cursor paging)."""
    client = client_for(account)
    cursor = ""
    while True:
        page = call(client, client.external_contact.batch_get_by_user, userid, cursor, page_size)
        yield from page.get("external_contact_list", [])
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return


def corp_tags(account) -> list[dict]:
    """The corp's customer tag library: groups with their tags."""
    client = client_for(account)
    return list(call(client, client.external_contact.get_corp_tag_list).get("tag_group", []))


def corp_tag_add(account, *, group_name: str, tag_names: list[str]) -> dict:
    client = client_for(account)
    return call(
        client,
        client.external_contact.add_corp_tag,
        group_id=None,
        group_name=group_name,
        order=None,
        tags=[{"name": name} for name in tag_names],
    ).get("tag_group", {})


def mark_tag(account, *, userid: str, external_userid: str, add: list[str], remove=()) -> None:
    client = client_for(account)
    call(
        client,
        client.external_contact.mark_tag,
        userid,
        external_userid,
        add_tag=list(add),
        remove_tag=list(remove),
    )


def corp_tag_rename(account, *, tag_id: str, name: str) -> None:
    client = client_for(account)
    call(client, client.external_contact.edit_corp_tag, tag_id, name=name)


def corp_tags_delete(account, *, tag_ids: list[str]) -> None:
    client = client_for(account)
    call(client, client.external_contact.del_corp_tag, tag_id=list(tag_ids))


# Handover (在职继承, 离职继承) and the directory ------------------------------------------

TRANSFER_BATCH = 100  # external_userids in one transfer_customer call
TRANSFER_MSG_MAX = 200  # characters of transfer_success_msg


def transfer_customers(
    account,
    *,
    handover_userid: str,
    takeover_userid: str,
    external_userids: list[str],
    resigned: bool,
    message: str = "",
) -> dict[str, int]:
    """Start moving customers from one member to another (at most 100 a call): the staff
    member still employed (在职继承, with `message` to each customer) or one who left
    (离职继承). Returns {external_userid: errcode}; 0 means started, final after 24 hours."""
    if len(external_userids) > TRANSFER_BATCH:
        raise ValueError("at most 100 customers per transfer call")
    client = client_for(account)
    data = {
        "handover_userid": handover_userid,
        "takeover_userid": takeover_userid,
        "external_userid": list(external_userids),
    }
    if resigned:
        path = "externalcontact/resigned/transfer_customer"
    else:
        path = "externalcontact/transfer_customer"
        if message:
            data["transfer_success_msg"] = message[:TRANSFER_MSG_MAX]
    result = call(client, client.post, path, data=data)
    return {
        row["external_userid"]: int(row.get("errcode", 0)) for row in result.get("customer") or []
    }


def transfer_results(
    account, *, handover_userid: str, takeover_userid: str, resigned: bool
) -> Iterator[dict]:
    """Per customer of the pair: external_userid, status (1 done, 2 waiting, 3 refused,
    4 takeover's limit, 5 no record) and takeover_time."""
    client = client_for(account)
    path = (
        "externalcontact/resigned/transfer_result"
        if resigned
        else "externalcontact/transfer_result"
    )
    data = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
    return _paged(client, path, data, "customer")


def departments(account) -> list[dict]:
    """The corp's departments: id, name, parentid."""
    client = client_for(account)
    return list(call(client, client.get, "department/list").get("department") or [])


def department_users(account, *, department_id: int = 1) -> list[dict]:
    """The members of a department and its sub-departments: userid, name, department,
    status (1 active, 2 disabled, 4 not activated, 5 quit). Members who left are absent."""
    client = client_for(account)
    params = {"department_id": department_id, "fetch_child": 1}
    return list(call(client, client.get, "user/list", params=params).get("userlist") or [])


def groupchat_ids(account, *, page_size: int = 1000) -> Iterator[dict]:
    """Every customer group of the corp (any status): chat_id and status, page by page."""
    client = client_for(account)
    data = {"status_filter": 0, "limit": page_size}
    return _paged(client, "externalcontact/groupchat/list", data, "group_chat_list")


def groupchat_get(account, *, chat_id: str) -> dict:
    """One customer group: chat_id, name, owner, member_list (userid, type 1 staff / 2
    external, join_time, join_scene, name). An unknown or dismissed chat is WeComError 40050."""
    client = client_for(account)
    data = {"chat_id": chat_id, "need_name": 1}
    return call(client, client.post, "externalcontact/groupchat/get", data=data)["group_chat"]


def acquisition_link_create(account, *, name: str, userids: list[str]) -> dict:
    """A customer-acquisition link (获客助手) to the members `userids`: link_id, url."""
    client = client_for(account)
    data = {"link_name": name, "range": {"user_list": userids}, "skip_verify": True}
    path = "externalcontact/customer_acquisition/create_link"
    return call(client, client.post, path, data=data)["link"]


def acquisition_link_ids(account) -> Iterator[str]:
    client = client_for(account)
    yield from _paged(
        client, "externalcontact/customer_acquisition/list_link", {"limit": 100}, "link_id_list"
    )


# Callbacks ---------------------------------------------------------------------------


class CallbackRejected(Exception):
    """A callback that must not be trusted: a bad signature, another corp, bad ciphertext."""


def _crypto(token: str, aes_key: str, corp_id: str) -> WeChatCrypto:
    try:
        return WeChatCrypto(token, aes_key, corp_id)
    except (AssertionError, binascii.Error, ValueError) as exc:
        raise CallbackRejected("callback keys are not configured correctly") from exc


def callback_verify_url(
    *, token: str, aes_key: str, corp_id: str, signature: str, timestamp: str, nonce: str, echostr
) -> str:
    """WeCom's URL verification: check the signature and decrypt echostr (AES-256-CBC)."""
    crypto = _crypto(token, aes_key, corp_id)
    try:
        return crypto.check_signature(signature, timestamp, nonce, echostr)
    except InvalidSignatureException as exc:
        raise CallbackRejected("bad signature") from exc
    except InvalidCorpIdException as exc:
        raise CallbackRejected("another corp id") from exc
    except (binascii.Error, ValueError, struct.error, IndexError, TypeError) as exc:
        raise CallbackRejected("unreadable ciphertext") from exc


def callback_decrypt(
    *, token: str, aes_key: str, corp_id: str, signature: str, timestamp: str, nonce: str, encrypt
) -> str:
    """An event POST: check msg_signature over the ciphertext, decrypt it, check that it
    was encrypted for our corp id (ReceiveId). Returns the plaintext XML."""
    crypto = _crypto(token, aes_key, corp_id)
    try:
        return crypto.decrypt_message({"Encrypt": encrypt}, signature, timestamp, nonce)
    except InvalidSignatureException as exc:
        raise CallbackRejected("bad signature") from exc
    except InvalidCorpIdException as exc:
        raise CallbackRejected("another corp id") from exc
    except (binascii.Error, ValueError, struct.error, IndexError, TypeError) as exc:
        raise CallbackRejected("unreadable ciphertext") from exc


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# JS-SDK tickets and OAuth ---------------------------------------------------------------


def jsapi_ticket(account) -> dict:
    """The corp's jsapi_ticket (wx.config): {"ticket", "expires_in"}. Callers cache it."""
    client = client_for(account)
    return call(client, client.jsapi.get_ticket)


def agent_jsapi_ticket(account) -> dict:
    """The app's jsapi_ticket (wx.agentConfig): {"ticket", "expires_in"}. Callers cache it."""
    client = client_for(account)
    return call(client, client.jsapi.get_agent_ticket)


def oauth_userid(account, *, code: str) -> str:
    """The member's userid for an OAuth code (the sidebar's or the QR web login's). A used,
    expired or unknown code is WeComError 40029; a visitor outside the corp has no userid
    ("" is answered)."""
    client = client_for(account)
    result = call(client, client.get, "auth/getuserinfo", params={"code": code})
    return result.get("userid") or ""
