"""The fake's JS-SDK tickets and OAuth codes, as strict as WeCom's docs.

- get_jsapi_ticket (the corp's ticket) and ticket/get?type=agent_config (the app's): valid
  7200 s; WeCom allows 400 fetches an hour per corp and 100 per app (errcode 45009 past it).
- auth/getuserinfo: a code is usable once and expires 5 minutes after it was issued; a used,
  expired or unknown code is errcode 40029 (invalid code). A missing code is 41008.
"""

import secrets
import time

TICKET_TTL = 7200
CORP_TICKETS_PER_HOUR = 400
AGENT_TICKETS_PER_HOUR = 100
OAUTH_CODE_TTL = 300.0


class JsSdkMixin:
    def _reset_jssdk(self):
        self.jsapi_tickets = {}  # ticket -> expires at (time.time())
        self.agent_tickets = {}
        self.oauth_codes = {}  # code -> (userid, issued at monotonic)
        self.oauth_clock_offset = 0.0  # control: WeCom's clock moves on

    def _ticket(self, store, bucket, limit):
        now = time.monotonic()
        with self.lock:
            if self.enforce_limits and not self._within(bucket, limit, 3600, now):
                self.rate_limited[bucket] += 1
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            ticket = secrets.token_urlsafe(48)
            store[ticket] = time.time() + TICKET_TTL
            return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": TICKET_TTL}

    def get_jsapi_ticket(self, query):
        return self._ticket(self.jsapi_tickets, "jsapi-ticket", CORP_TICKETS_PER_HOUR)

    def get_agent_ticket(self, query):
        if query.get("type") != "agent_config":
            return {"errcode": 40058, "errmsg": "invalid type, type must be agent_config"}
        return self._ticket(self.agent_tickets, "agent-ticket", AGENT_TICKETS_PER_HOUR)

    def issue_oauth_code(self, userid: str) -> str:
        """Control: the member `userid` authorised (sidebar OAuth or QR web login)."""
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.oauth_codes[code] = (userid, time.monotonic())
        return code

    def auth_getuserinfo(self, query):
        code = query.get("code", "")
        if not code:
            return {"errcode": 41008, "errmsg": "missing code"}
        with self.lock:
            found = self.oauth_codes.pop(code, None)  # usable once, found or not
            if found is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            userid, issued = found
            if time.monotonic() + self.oauth_clock_offset - issued > OAUTH_CODE_TTL:
                return {"errcode": 40029, "errmsg": "invalid code"}
            if userid in self.users or not self.users:
                return {"errcode": 0, "errmsg": "ok", "userid": userid}
            # Not a member of the corp: WeCom answers an openid instead of a userid.
            return {"errcode": 0, "errmsg": "ok", "openid": "o" + secrets.token_hex(8)}
