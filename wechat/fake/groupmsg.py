"""The fake WeCom's enterprise mass messages (企业群发), with WeCom's rules for customers.

From WeCom's documentation (客户联系 → 消息推送):
- `add_msg_template` (chat_type single, one `sender`, at most 10,000 external_userids) does
  not send anything: it creates a task the sender must confirm in their WeCom client. It
  answers a msgid and `fail_list`, the external_userids that cannot be sent to (here: not a
  contact of the sender).
- `get_groupmsg_list_v2` lists the tasks created in a time window (at most one month);
  tasks created by the API carry no `creator`.
- `get_groupmsg_task` tells, per member, whether they sent it (status 0 not yet, 2 sent).
- `get_groupmsg_send_result` tells, per customer: 0 not sent, 1 sent, 2 not a contact
  (any more), 3 already received a mass message (the customer's cap).
- `remind_groupmsg_send` notifies the member again, at most three times a day per task;
  `cancel_groupmsg_send` stops a task nobody needs to send any more.
- A customer receives a limited number of mass messages (by default here one a day, what
  WeCom's 群发规则 "每天接收一条" sets; `mass_daily_cap` changes it).

- chat_type group (客户群群发): `sender` is required, the owner of the groups; `chat_id_list`
  (at most 2000) names the groups, else the owner picks them (here: all their groups). A
  group the sender does not own is not sent to (status 2 in the results). Results are per
  group: rows carry chat_id instead of external_userid. A group receives one mass message
  a day, like a customer (status 3).

Control: `confirm(userid, msgid=None)` is the member pressing 发送 in their client.
"""

import secrets
import time
from datetime import datetime
from zoneinfo import ZoneInfo

MAX_EXTERNAL_USERIDS = 10_000
MAX_CHAT_IDS = 2000
LIST_WINDOW_SECONDS = 31 * 86_400
REMINDS_PER_DAY = 3
WECOM_ZONE = ZoneInfo("Asia/Shanghai")

# Per-customer status in get_groupmsg_send_result.
NOT_SENT, SENT, NOT_A_CONTACT, LIMIT_REACHED = 0, 1, 2, 3


def _day(at: float):
    return datetime.fromtimestamp(at, WECOM_ZONE).date()


class GroupMsgMixin:
    def _reset_groupmsg(self):
        self.customer_messages = []  # the tasks add_msg_template created, oldest first
        self.mass_received = {}  # (external_userid, day) -> mass messages received
        self.mass_daily_cap = 1

    def _task(self, msgid):
        return next((m for m in self.customer_messages if m["msgid"] == msgid), None)

    def _is_contact(self, userid, external_userid):
        contact = self.contacts.get(external_userid)
        return bool(contact) and any(f["userid"] == userid for f in contact["follow_user"])

    def _owns(self, userid, chat_id):
        group = self.groupchats.get(chat_id)
        return bool(group) and not group["dismissed"] and group["owner"] == userid

    def _group_template(self, body):
        sender = body.get("sender") or ""
        if not sender:
            return {"errcode": 41048, "errmsg": "sender required for chat_type group"}
        chat_ids = body.get("chat_id_list")
        if chat_ids is None:
            chat_ids = [c for c in self.groupchats if self._owns(sender, c)]
        if not isinstance(chat_ids, list) or len(chat_ids) > MAX_CHAT_IDS:
            return {"errcode": 40058, "errmsg": "chat_id_list: at most 2000"}
        content = (body.get("text") or {}).get("content", "")
        if not content and not body.get("attachments"):
            return {"errcode": 41049, "errmsg": "text or attachments required"}
        msgid = "msg" + secrets.token_hex(8)
        self.customer_messages.append(
            {
                "msgid": msgid,
                "chat_type": "group",
                "sender": sender,
                "external_userid": [],
                "chat_id_list": list(chat_ids),
                "fail_list": [],
                "content": content,
                "at": time.time(),
                "task_status": 0,
                "send_time": 0,
                "canceled": False,
                "reminded": [],
                "results": {c: NOT_SENT for c in chat_ids},
            }
        )
        return {"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": msgid}

    def add_msg_template(self, body):
        with self.lock:
            chat_type = body.get("chat_type", "single")
            if chat_type == "group":
                return self._group_template(body)
            if chat_type != "single":
                return {"errcode": 40058, "errmsg": "chat_type is single or group"}
            sender = body.get("sender") or ""
            userids = body.get("external_userid") or []
            if not sender:
                return {"errcode": 41048, "errmsg": "sender required"}
            if not isinstance(userids, list) or not userids:
                return {"errcode": 40058, "errmsg": "external_userid required"}
            if len(userids) > MAX_EXTERNAL_USERIDS:
                return {"errcode": 40058, "errmsg": "external_userid exceeds 10000"}
            content = (body.get("text") or {}).get("content", "")
            if not content and not body.get("attachments"):
                return {"errcode": 41049, "errmsg": "text or attachments required"}
            fail_list = [u for u in userids if not self._is_contact(sender, u)]
            failed = set(fail_list)
            msgid = "msg" + secrets.token_hex(8)
            self.customer_messages.append(
                {
                    "msgid": msgid,
                    "chat_type": "single",
                    "sender": sender,
                    "external_userid": list(userids),  # what was asked for
                    "fail_list": fail_list,
                    "content": content,
                    "at": time.time(),
                    "task_status": 0,  # 0 waiting for the member, 2 sent
                    "send_time": 0,
                    "canceled": False,
                    "reminded": [],
                    "results": {u: NOT_SENT for u in userids if u not in failed},
                }
            )
            return {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}

    def confirm(self, *, userid, msgid=None):
        """Control: the member sends their waiting tasks (or one) from their client. Each
        customer gets it unless they are no contact any more or reached their cap."""
        now = time.time()
        confirmed = []
        with self.lock:
            for task in self.customer_messages:
                if task["sender"] != userid or task["task_status"] != 0 or task["canceled"]:
                    continue
                if msgid and task["msgid"] != msgid:
                    continue
                for external_userid in task["results"]:
                    key = (external_userid, _day(now))
                    if task["chat_type"] == "group":
                        reachable = self._owns(userid, external_userid)
                    else:
                        reachable = self._is_contact(userid, external_userid)
                    if not reachable:
                        task["results"][external_userid] = NOT_A_CONTACT
                    elif self.mass_daily_cap and self.mass_received.get(key, 0) >= (
                        self.mass_daily_cap
                    ):
                        task["results"][external_userid] = LIMIT_REACHED
                    else:
                        task["results"][external_userid] = SENT
                        self.mass_received[key] = self.mass_received.get(key, 0) + 1
                task["task_status"], task["send_time"] = 2, int(now)
                confirmed.append(task["msgid"])
        return confirmed

    def mass_delivered(self):
        """external_userid -> mass messages it really received (confirmed and delivered)."""
        with self.lock:
            counts = {}
            for task in self.customer_messages:
                for external_userid, status in task["results"].items():
                    if status == SENT:
                        counts[external_userid] = counts.get(external_userid, 0) + 1
            return counts

    @staticmethod
    def _page(rows, body, limit_max):
        limit = max(1, min(int(body.get("limit") or limit_max), limit_max))
        start = int(body.get("cursor") or 0)
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return rows[start : start + limit], cursor

    def get_groupmsg_list_v2(self, body):
        try:
            start, end = int(body["start_time"]), int(body["end_time"])
        except (KeyError, TypeError, ValueError):
            return {"errcode": 40058, "errmsg": "start_time and end_time required"}
        if end < start or end - start > LIST_WINDOW_SECONDS:
            return {"errcode": 40058, "errmsg": "the time span is at most one month"}
        chat_type = body.get("chat_type", "single")
        with self.lock:
            rows = [
                {
                    "msgid": t["msgid"],
                    "create_time": str(int(t["at"])),
                    "create_type": 0,  # 企业发表 (created by the API: no creator)
                    "text": {"content": t["content"]},
                }
                for t in self.customer_messages
                if start <= int(t["at"]) <= end
                and int(body.get("filter_type", 2)) in (0, 2)
                and t["chat_type"] == chat_type
            ]
        page, cursor = self._page(rows, body, 100)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "group_msg_list": page}

    def get_groupmsg_task(self, body):
        with self.lock:
            task = self._task(body.get("msgid"))
            if task is None:
                return {"errcode": 41063, "errmsg": "msgid not found"}
            row = {"userid": task["sender"], "status": task["task_status"]}
            if task["send_time"]:
                row["send_time"] = task["send_time"]
        return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "task_list": [row]}

    def get_groupmsg_send_result(self, body):
        with self.lock:
            task = self._task(body.get("msgid"))
            if task is None:
                return {"errcode": 41063, "errmsg": "msgid not found"}
            if body.get("userid") != task["sender"]:
                return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "send_list": []}
            rows = []
            id_field = "chat_id" if task["chat_type"] == "group" else "external_userid"
            for external_userid, status in task["results"].items():
                row = {id_field: external_userid, "userid": task["sender"]}
                row["status"] = status
                if status == SENT:
                    row["send_time"] = task["send_time"]
                rows.append(row)
        page, cursor = self._page(rows, body, 1000)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "send_list": page}

    def remind_groupmsg_send(self, body):
        now = time.time()
        with self.lock:
            task = self._task(body.get("msgid"))
            if task is None:
                return {"errcode": 41063, "errmsg": "msgid not found"}
            recent = [at for at in task["reminded"] if now - at < 86_400]
            if len(recent) >= REMINDS_PER_DAY:
                return {"errcode": 41070, "errmsg": "remind at most 3 times in 24 hours"}
            task["reminded"].append(now)
        return {"errcode": 0, "errmsg": "ok"}

    def cancel_groupmsg_send(self, body):
        with self.lock:
            task = self._task(body.get("msgid"))
            if task is None:
                return {"errcode": 41063, "errmsg": "msgid not found"}
            task["canceled"] = True
        return {"errcode": 0, "errmsg": "ok"}
