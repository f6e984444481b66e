"""The fake WeCom's customer-acquisition links (获客助手), with WeCom's rules.

From WeCom's documentation (客户联系 → 获客助手):
- `externalcontact/customer_acquisition/create_link`: `link_name` required (at most 30
  characters), `range` with `user_list` and/or `department_list` (at least one; at most 500
  members), `skip_verify` (default true). Answers `link` {link_id, link_name, url,
  create_time}. A userid not in the directory is 60111.
- `externalcontact/customer_acquisition/list_link`: `limit` at most 100 (default 100),
  `cursor` from the previous page; answers `link_id_list` and `next_cursor`.
- A customer who opens the link with `?customer_channel=<value>` and adds a member arrives in
  the add_external_contact event with `State` = that value; the fake's
  `acquisition_arrive` control pushes it.
"""

import secrets
import time

LINK_NAME_MAX = 30
LINK_RANGE_MAX = 500
LIST_LIMIT_MAX = 100


class AcquisitionMixin:
    def _reset_acquisition(self):
        self.acquisition_links = {}  # link_id -> link
        self.acquisition_cursors = {}

    def acquisition_create_link(self, body):
        name = body.get("link_name") or ""
        if not name:
            return {"errcode": 40058, "errmsg": "link_name required"}
        if len(name) > LINK_NAME_MAX:
            return {"errcode": 40058, "errmsg": "link_name exceeds 30 characters"}
        scope = body.get("range") or {}
        users = scope.get("user_list") or []
        departments = scope.get("department_list") or []
        if not users and not departments:
            return {"errcode": 40058, "errmsg": "range required"}
        if len(users) > LINK_RANGE_MAX:
            return {"errcode": 40058, "errmsg": "range exceeds 500 members"}
        with self.lock:
            unknown = [u for u in users if u not in self.users]
            if unknown:
                return {"errcode": 60111, "errmsg": f"userid not found: {unknown[0]}"}
            link_id = "cawcde" + secrets.token_hex(6)
            link = {
                "link_id": link_id,
                "link_name": name,
                "url": f"https://work.weixin.qq.com/ca/{link_id}",
                "create_time": int(time.time()),
                "skip_verify": bool(body.get("skip_verify", True)),
                "range": {"user_list": list(users), "department_list": list(departments)},
            }
            self.acquisition_links[link_id] = link
        public = {k: link[k] for k in ("link_id", "link_name", "url", "create_time")}
        return {"errcode": 0, "errmsg": "ok", "link": public}

    def acquisition_list_link(self, body):
        try:
            limit = int(body.get("limit") or LIST_LIMIT_MAX)
        except (TypeError, ValueError):
            return {"errcode": 40058, "errmsg": "invalid limit"}
        if not 1 <= limit <= LIST_LIMIT_MAX:
            return {"errcode": 40058, "errmsg": "limit at most 100"}
        with self.lock:
            cursor = body.get("cursor") or ""
            if cursor and cursor not in self.acquisition_cursors:
                return {"errcode": 40058, "errmsg": "invalid cursor"}
            start = self.acquisition_cursors.get(cursor, 0)
            ids = list(self.acquisition_links)
            page = ids[start : start + limit]
            next_cursor = ""
            if start + limit < len(ids):
                next_cursor = secrets.token_hex(8)
                self.acquisition_cursors[next_cursor] = start + limit
        return {"errcode": 0, "errmsg": "ok", "link_id_list": page, "next_cursor": next_cursor}

    def acquisition_arrive(self, corp_id, *, link_id, customer_channel="", name=None):
        """Control: a customer opened the link (with ?customer_channel=…) and added one of its
        members; WeCom pushes add_external_contact with State = customer_channel."""
        with self.lock:
            link = self.acquisition_links[link_id]
            userid = link["range"]["user_list"][0]
        return self.push_add(corp_id, userid=userid, state=customer_channel, name=name)
