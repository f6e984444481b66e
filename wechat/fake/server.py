import json
import secrets
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from wechat.fake.acquisition import AcquisitionMixin
from wechat.fake.contacts import ContactsMixin
from wechat.fake.groupchats import GroupChatsMixin
from wechat.fake.groupmsg import GroupMsgMixin
from wechat.fake.jssdk import JsSdkMixin
from wechat.fake.transfers import TransfersMixin

# WeCom's documented limits, enforced like WeCom does.
API_LIMIT_PER_MINUTE = 10_000
MEMBER_LIMIT_PER_MINUTE = 30  # app messages to one member: the excess is silently dropped
MEMBER_LIMIT_PER_HOUR = 1_000
ROBOT_LIMIT_PER_MINUTE = 20  # errcode 130101 past it
WELCOME_CODE_TTL = 20.0


class FakeWeCom(
    ContactsMixin, GroupMsgMixin, GroupChatsMixin, TransfersMixin, AcquisitionMixin, JsSdkMixin
):
    """The fake's state. Thread-safe: the server answers requests on many threads."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.tokens = {}  # token -> corp id
            self.token_requests = 0
            self.messages = []  # app messages delivered to staff
            self.dropped = []  # app messages over the member limit (WeCom drops them silently)
            self.robot_messages = []
            self.welcome_messages = []
            self.contact_ways = []
            self._reset_contacts()
            self._reset_groupmsg()
            self._reset_transfers()
            self._reset_jssdk()
            self._reset_groupchats()
            self._reset_acquisition()
            self.welcome_codes = {}  # code -> issued at (monotonic)
            self.calls = defaultdict(int)  # path -> count
            self.rate_limited = defaultdict(int)  # path -> count of limit errors answered
            self.windows = defaultdict(deque)  # bucket -> timestamps
            self.dedupe = {}  # (userid, content) -> time, WeCom's enable_duplicate_check
            self.duplicates_suppressed = 0
            self.faults = {
                "errcode": None,
                "every": 0,
                "expire_token_once": False,
                "slow_ms": 0,
                "http_500_every": 0,
            }
            self.fault_counter = 0
            self.enforce_limits = True
            # Every limit's window, scaled: tests run WeCom's limits 10x faster (0.1) with the
            # same counts, as CareLoop's pacing does with WECOM_LIMIT_WINDOW_SCALE.
            self.window_scale = 1.0

    # Limits and faults -------------------------------------------------------------

    def _within(self, bucket, limit, seconds, now):
        window = self.windows[bucket]
        seconds *= self.window_scale
        while window and window[0] <= now - seconds:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def injected_fault(self):
        """(http status, errcode) to answer instead of the real result, or None."""
        with self.lock:
            self.fault_counter += 1
            n = self.fault_counter
            if self.faults["http_500_every"] and n % self.faults["http_500_every"] == 0:
                return 500, None
            if self.faults["errcode"] and self.faults["every"] and n % self.faults["every"] == 0:
                return 200, self.faults["errcode"]
        return None

    def check_token(self, token):
        with self.lock:
            if self.faults["expire_token_once"] and token in self.tokens:
                self.faults["expire_token_once"] = False
                self.tokens.pop(token)
                return 42001
            return 0 if token in self.tokens else 40014

    # Endpoints -----------------------------------------------------------------------

    def gettoken(self, query):
        with self.lock:
            self.token_requests += 1
            if not query.get("corpid") or not query.get("corpsecret"):
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            token = secrets.token_hex(16)
            self.tokens[token] = query["corpid"]
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    def message_send(self, body):
        now = time.monotonic()
        user = body.get("touser", "")
        content = (body.get("text") or {}).get("content", "")
        with self.lock:
            if body.get("enable_duplicate_check"):
                interval = int(body.get("duplicate_check_interval", 1800))
                seen = self.dedupe.get((user, content))
                if seen is not None and now - seen < interval:
                    self.duplicates_suppressed += 1
                    return {"errcode": 0, "errmsg": "ok", "msgid": "dup"}
            record = {"touser": user, "content": content, "at": time.time()}
            if self.enforce_limits and not (
                self._within(f"member:{user}", MEMBER_LIMIT_PER_MINUTE, 60, now)
                and self._within(f"member-h:{user}", MEMBER_LIMIT_PER_HOUR, 3600, now)
            ):
                self.dropped.append(record)  # WeCom answers ok and drops it
            else:
                self.messages.append(record)
                if body.get("enable_duplicate_check"):
                    self.dedupe[(user, content)] = now
            return {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": secrets.token_hex(8)}

    def robot_send(self, query, body):
        now = time.monotonic()
        with self.lock:
            key = query.get("key", "")
            if not key:
                return {"errcode": 93000, "errmsg": "invalid webhook url"}
            if self.enforce_limits and not self._within(
                f"robot:{key}", ROBOT_LIMIT_PER_MINUTE, 60, now
            ):
                self.rate_limited["webhook/send"] += 1
                return {"errcode": 130101, "errmsg": "send too frequently"}
            self.robot_messages.append(
                {
                    "key": key,
                    "content": (body.get("text") or {}).get("content", ""),
                    "at": time.time(),
                }
            )
            return {"errcode": 0, "errmsg": "ok"}

    def issue_welcome_code(self):
        code = "wc" + secrets.token_hex(12)
        with self.lock:
            self.welcome_codes[code] = time.monotonic()
        return code

    def send_welcome_msg(self, body):
        code = body.get("welcome_code", "")
        with self.lock:
            issued = self.welcome_codes.pop(code, None)
            if issued is None or time.monotonic() - issued > WELCOME_CODE_TTL:
                return {"errcode": 41051, "errmsg": "welcome code expired or used"}
            self.welcome_messages.append(
                {
                    "welcome_code": code,
                    "text": (body.get("text") or {}).get("content", ""),
                    "attachments": body.get("attachments", []),
                    "at": time.time(),
                }
            )
            return {"errcode": 0, "errmsg": "ok"}

    def get_contact(self, query):
        with self.lock:
            contact = self.contacts.get(query.get("external_userid", ""))
            if contact is None:
                return {"errcode": 84061, "errmsg": "not external contact"}
            return {"errcode": 0, "errmsg": "ok", **contact}

    def state(self):
        with self.lock:
            return {
                "messages": list(self.messages),
                "dropped": list(self.dropped),
                "robot_messages": list(self.robot_messages),
                "customer_messages": list(self.customer_messages),
                "welcome_messages": list(self.welcome_messages),
                "contact_ways": list(self.contact_ways),
                "token_requests": self.token_requests,
                "calls": dict(self.calls),
                "rate_limited": dict(self.rate_limited),
                "duplicates_suppressed": self.duplicates_suppressed,
                "contacts": dict(self.contacts),
                "tag_groups": list(self.tag_groups),
                "marked": list(self.marked),
                "pushes": list(self.pushes),
                "mass_daily_cap": self.mass_daily_cap,
                "mass_delivered": self.mass_delivered(),
                "users": dict(self.users),
                "resigned": dict(self.resigned),
                "transfers": [dict(t) for t in self.transfers],
            }


APP_FIELDS = ("corp_id", "callback_url", "token", "aes_key")

# Paths that need a valid access_token, and the handler for each.
TOKEN_ENDPOINTS = {
    "message/send": lambda fake, q, b: fake.message_send(b),
    "externalcontact/add_msg_template": lambda fake, q, b: fake.add_msg_template(b),
    "externalcontact/get_groupmsg_list_v2": lambda fake, q, b: fake.get_groupmsg_list_v2(b),
    "externalcontact/get_groupmsg_task": lambda fake, q, b: fake.get_groupmsg_task(b),
    "externalcontact/get_groupmsg_send_result": lambda fake, q, b: fake.get_groupmsg_send_result(b),
    "externalcontact/remind_groupmsg_send": lambda fake, q, b: fake.remind_groupmsg_send(b),
    "externalcontact/cancel_groupmsg_send": lambda fake, q, b: fake.cancel_groupmsg_send(b),
    "externalcontact/send_welcome_msg": lambda fake, q, b: fake.send_welcome_msg(b),
    "externalcontact/add_contact_way": lambda fake, q, b: fake.add_contact_way(b),
    "externalcontact/get_contact_way": lambda fake, q, b: fake.get_contact_way(b),
    "externalcontact/update_contact_way": lambda fake, q, b: fake.update_contact_way(b),
    "externalcontact/del_contact_way": lambda fake, q, b: fake.del_contact_way(b),
    "externalcontact/get": lambda fake, q, b: fake.get_contact(q),
    "externalcontact/get_follow_user_list": lambda fake, q, b: fake.get_follow_user_list(),
    "externalcontact/batch/get_by_user": lambda fake, q, b: fake.batch_get_by_user(b),
    "externalcontact/get_corp_tag_list": lambda fake, q, b: fake.get_corp_tag_list(b),
    "externalcontact/add_corp_tag": lambda fake, q, b: fake.add_corp_tag(b),
    "externalcontact/edit_corp_tag": lambda fake, q, b: fake.edit_corp_tag(b),
    "externalcontact/del_corp_tag": lambda fake, q, b: fake.del_corp_tag(b),
    "externalcontact/mark_tag": lambda fake, q, b: fake.mark_tag(b),
    "externalcontact/remark": lambda fake, q, b: fake.remark(b),
    "externalcontact/transfer_customer": lambda fake, q, b: fake.transfer_customer(b),
    "externalcontact/transfer_result": lambda fake, q, b: fake.transfer_result(b),
    "externalcontact/resigned/transfer_customer": (
        lambda fake, q, b: fake.resigned_transfer_customer(b)
    ),
    "externalcontact/resigned/transfer_result": lambda fake, q, b: fake.resigned_transfer_result(b),
    "get_jsapi_ticket": lambda fake, q, b: fake.get_jsapi_ticket(q),
    "ticket/get": lambda fake, q, b: fake.get_agent_ticket(q),
    "auth/getuserinfo": lambda fake, q, b: fake.auth_getuserinfo(q),
    "externalcontact/groupchat/list": lambda fake, q, b: fake.groupchat_list(b),
    "externalcontact/groupchat/get": lambda fake, q, b: fake.groupchat_get(b),
    "externalcontact/customer_acquisition/create_link": (
        lambda fake, q, b: fake.acquisition_create_link(b)
    ),
    "externalcontact/customer_acquisition/list_link": (
        lambda fake, q, b: fake.acquisition_list_link(b)
    ),
    "department/list": lambda fake, q, b: fake.department_list(q),
    "user/list": lambda fake, q, b: fake.user_list(q),
}


def make_handler(fake: FakeWeCom):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body are two writes: with Nagle's algorithm on, a kept-alive
        # client's delayed ACK held every answer back 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status, payload):
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw or b"{}")
            except ValueError:
                return None

        def do_GET(self):
            self._dispatch(body={})

        def do_POST(self):
            body = self._body()
            if body is None:
                return self._answer(200, {"errcode": 47001, "errmsg": "data format error"})
            self._dispatch(body=body)

        def _dispatch(self, body):
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            path = url.path.removeprefix("/cgi-bin/").strip("/")
            if path.startswith("_fake/"):
                return self._control(path, body)
            with fake.lock:
                fake.calls[path] += 1
            if fake.faults["slow_ms"]:
                time.sleep(fake.faults["slow_ms"] / 1000)
            if path == "gettoken":
                return self._answer(200, fake.gettoken(query))
            if path == "webhook/send":
                return self._answer(200, fake.robot_send(query, body))
            handler = TOKEN_ENDPOINTS.get(path)
            if handler is None:
                return self._answer(404, {"errcode": 404, "errmsg": f"unknown endpoint {path}"})
            token_error = fake.check_token(query.get("access_token", ""))
            if token_error:
                return self._answer(200, {"errcode": token_error, "errmsg": "invalid access_token"})
            with fake.lock:
                if fake.enforce_limits and not fake._within(
                    f"api:{path}", API_LIMIT_PER_MINUTE, 60, time.monotonic()
                ):
                    fake.rate_limited[path] += 1
                    return self._answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
            fault = fake.injected_fault()
            if fault:
                status, errcode = fault
                if status != 200:
                    return self._answer(status, {"errmsg": "server error"})
                return self._answer(200, {"errcode": errcode, "errmsg": "injected fault"})
            return self._answer(200, handler(fake, query, body))

        def _control(self, path, body):
            if path == "_fake/state":
                return self._answer(200, fake.state())
            if path == "_fake/reset":
                fake.reset()
                return self._answer(200, {"ok": True})
            if path == "_fake/faults":
                with fake.lock:
                    fake.faults.update({k: v for k, v in body.items() if k in fake.faults})
                    if "enforce_limits" in body:
                        fake.enforce_limits = bool(body["enforce_limits"])
                return self._answer(200, {"ok": True, "faults": fake.faults})
            if path == "_fake/apps":
                try:
                    fake.register_app(**{k: body[k] for k in APP_FIELDS})
                except (KeyError, TypeError):
                    return self._answer(400, {"errmsg": "corp_id, callback_url, token, aes_key"})
                return self._answer(200, {"ok": True})
            if path == "_fake/push":
                return self._push(body)
            if path == "_fake/confirm":
                # The staff member presses 发送 on their waiting mass messages (or one).
                if not body.get("userid"):
                    return self._answer(400, {"errmsg": "userid required"})
                confirmed = fake.confirm(userid=body["userid"], msgid=body.get("msgid"))
                return self._answer(200, {"ok": True, "confirmed": confirmed})
            if path == "_fake/settings":
                with fake.lock:
                    if "mass_daily_cap" in body:
                        fake.mass_daily_cap = int(body["mass_daily_cap"] or 0)
                    if "customer_limit" in body:
                        fake.customer_limit = int(body["customer_limit"])
                return self._answer(200, {"ok": True, "mass_daily_cap": fake.mass_daily_cap})
            if path == "_fake/staff":
                # A member added or changed in the directory, or (resign) gone from it.
                if not body.get("userid"):
                    return self._answer(400, {"errmsg": "userid required"})
                if body.get("resign"):
                    fake.staff_resign(body["userid"])
                else:
                    fake.staff_set(
                        userid=body["userid"],
                        name=body.get("name") or body["userid"],
                        department=body.get("department") or [1],
                        status=int(body.get("status") or 1),
                    )
                    if body.get("customer_contact", True):
                        with fake.lock:
                            fake.follow_userids.add(body["userid"])
                return self._answer(200, {"ok": True})
            if path == "_fake/oauth_code":
                # A member authorised in WeCom (the sidebar's OAuth, the QR web login); or
                # (advance seconds) WeCom's clock moves on, for the 5-minute expiry.
                if body.get("advance"):
                    with fake.lock:
                        fake.oauth_clock_offset += float(body["advance"])
                    return self._answer(200, {"ok": True})
                if not body.get("userid"):
                    return self._answer(400, {"errmsg": "userid required"})
                return self._answer(
                    200, {"ok": True, "code": fake.issue_oauth_code(body["userid"])}
                )
            if path == "_fake/groups":
                return self._groups(body)
            if path == "_fake/transfers":
                # WeCom's clock moves on (advance seconds) or a customer refuses a transfer.
                if body.get("refuse"):
                    refused = fake.transfer_refuse(body["refuse"])
                    return self._answer(200, {"ok": True, "refused": refused})
                fake.transfers_advance(float(body.get("advance") or 0))
                return self._answer(200, {"ok": True})
            return self._answer(404, {"errmsg": "unknown control"})

        def _groups(self, body):
            """Control: a customer group changes in WeCom (and its event is pushed to the
            app registered for corp_id, if any)."""
            action, chat_id, corp_id = body.get("action"), body.get("chat_id"), body.get("corp_id")
            corp_id = corp_id or ""
            if action == "create":
                if not body.get("owner"):
                    return self._answer(400, {"errmsg": "owner required"})
                result = fake.group_create(
                    owner=body["owner"],
                    name=body.get("name", ""),
                    externals=body.get("externals") or [],
                    chat_id=chat_id,
                    corp_id=corp_id,
                )
                return self._answer(200, result)
            if chat_id not in fake.groupchats:
                return self._answer(404, {"errmsg": "unknown chat_id"})
            if action == "join":
                result = fake.group_join(chat_id, body.get("userids") or [], corp_id=corp_id)
            elif action == "leave":
                result = fake.group_leave(chat_id, body.get("userids") or [], corp_id=corp_id)
            elif action == "rename":
                result = fake.group_rename(chat_id, body.get("name", ""), corp_id=corp_id)
            elif action == "owner":
                result = fake.group_owner(chat_id, body.get("owner", ""), corp_id=corp_id)
            elif action == "dismiss":
                result = fake.group_dismiss(chat_id, corp_id=corp_id)
            else:
                return self._answer(400, {"errmsg": f"unknown action {action}"})
            return self._answer(200, result)

        def _push(self, body):
            """Control: make WeCom push a contact event to a registered app's callback URL."""
            corp_id = body.get("corp_id", "")
            if corp_id not in fake.apps:
                return self._answer(404, {"errmsg": "register the app first (/_fake/apps)"})
            change = body.get("change_type", "add_external_contact")
            userid = body.get("userid", "")
            if change == "add_external_contact":
                result = fake.push_add(
                    corp_id,
                    userid=userid,
                    state=body.get("state", ""),
                    name=body.get("name"),
                    external_userid=body.get("external_userid"),
                )
            elif change == "edit_external_contact":
                result = fake.push_edit(
                    corp_id,
                    userid=userid,
                    external_userid=body.get("external_userid", ""),
                    remark=body.get("remark"),
                )
            elif change in ("del_follow_user", "del_external_contact"):
                result = fake.push_delete(
                    corp_id,
                    userid=userid,
                    external_userid=body.get("external_userid", ""),
                    by_patient=change == "del_follow_user",
                )
            else:
                return self._answer(400, {"errmsg": f"unknown change_type {change}"})
            result.pop("body", None)
            result.pop("params", None)
            return self._answer(200, result)

    return Handler


def serve_in_thread(fake: FakeWeCom | None = None, host="127.0.0.1", port=0):
    """Start the fake on a free port in a daemon thread; returns (fake, server, base_url)."""
    fake = fake or FakeWeCom()
    server = ThreadingHTTPServer((host, port), make_handler(fake))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://{host}:{server.server_address[1]}/cgi-bin/"
    return fake, server, base_url
