"""The JS-SDK's server-side signatures (wx.config and wx.agentConfig).

WeCom's documented algorithm (developer.work.weixin.qq.com/document/path/90506): the string
`jsapi_ticket=…&noncestr=…&timestamp=…&url=…` in exactly that order, raw values (no URL
escaping), the URL without its #fragment; its sha1 in hex is the signature. The corp's ticket
signs wx.config, the app's (agent_config) ticket signs wx.agentConfig. Tickets live 7200 s
and WeCom allows few fetches (400 an hour per corp, 100 per app): they are cached in the
shared cache until shortly before they expire.
"""

import hashlib
import secrets
import time

from django.core.cache import cache

from wechat import transport

TICKET_MARGIN = 300  # seconds before WeCom's expiry when a new ticket is fetched


def signature(*, ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    url = url.split("#", 1)[0]
    text = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 WeCom's algorithm


def _ticket(account, kind: str) -> str:
    key = f"wecom:ticket:{kind}:{account.corp_id}:{account.agent_id}"
    ticket = cache.get(key)
    if ticket:
        return ticket
    fetch = transport.jsapi_ticket if kind == "corp" else transport.agent_jsapi_ticket
    answer = fetch(account)
    ttl = max(int(answer.get("expires_in") or 7200) - TICKET_MARGIN, 60)
    cache.set(key, answer["ticket"], ttl)
    return answer["ticket"]


def config_for(account, *, url: str) -> dict:
    """Everything the page passes to wx.config and wx.agentConfig for `url`."""
    timestamp = int(time.time())
    noncestr = secrets.token_hex(8)
    corp = signature(
        ticket=_ticket(account, "corp"), noncestr=noncestr, timestamp=timestamp, url=url
    )
    agent = signature(
        ticket=_ticket(account, "agent"), noncestr=noncestr, timestamp=timestamp, url=url
    )
    return {
        "corpid": account.corp_id,
        "agentid": account.agent_id,
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": corp,
        "agentSignature": agent,
    }
