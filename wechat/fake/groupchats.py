"""The fake WeCom's customer groups (客户群), with WeCom's rules.

From WeCom's documentation (客户联系 → 客户群管理 / 事件回调 → 客户群变更事件):
- `externalcontact/groupchat/list`: `limit` is required, 1 to 1000; `status_filter` 0 all
  (default), 1 离职待继承, 2 离职继承中, 3 离职继承完成; `owner_filter.userid_list` narrows it
  to groups those members own; `cursor` is the previous page's `next_cursor` (an unknown
  cursor is refused). Each row: chat_id and status.
- `externalcontact/groupchat/get`: `chat_id` (an unknown one is 40050); `need_name` 1 adds
  each member's name. The answer's group_chat: chat_id, name, owner, create_time, notice,
  member_list (userid, type 1 staff / 2 external contact, join_time, join_scene 1 invited
  directly, 2 invited by link, 3 joined by QR code, invitor, group_nickname, name when
  asked, unionid for external contacts) and admin_list.
- The `change_external_chat` event (ChatId, ChangeType create / update / dismiss; an update
  carries UpdateDetail add_member / del_member / change_owner / change_name / change_notice,
  with JoinScene, QuitScene, MemChangeCnt, MemChangeList, LastMemVer and CurMemVer).

Control: `group_create`, `group_join`, `group_leave`, `group_rename`, `group_owner`,
`group_dismiss` change a group and push its event to the registered app.
"""

import secrets
import time

LIST_LIMIT_MAX = 1000
MEMBER_STAFF, MEMBER_EXTERNAL = 1, 2
JOIN_DIRECT, JOIN_LINK, JOIN_QRCODE = 1, 2, 3


class GroupChatsMixin:
    def _reset_groupchats(self):
        self.groupchats = {}  # chat_id -> {"chat_id", "name", "owner", "members", ...}
        self.groupchat_cursors = {}  # cursor -> offset it stands for

    # Endpoints -----------------------------------------------------------------------

    def groupchat_list(self, body):
        try:
            limit = int(body.get("limit"))
        except (TypeError, ValueError):
            return {"errcode": 40058, "errmsg": "limit required"}
        if not 1 <= limit <= LIST_LIMIT_MAX:
            return {"errcode": 40058, "errmsg": "limit must be between 1 and 1000"}
        try:
            status_filter = int(body.get("status_filter") or 0)
        except (TypeError, ValueError):
            return {"errcode": 40058, "errmsg": "invalid status_filter"}
        if status_filter not in (0, 1, 2, 3):
            return {"errcode": 40058, "errmsg": "invalid status_filter"}
        owners = set((body.get("owner_filter") or {}).get("userid_list") or [])
        with self.lock:
            cursor = body.get("cursor") or ""
            if cursor and cursor not in self.groupchat_cursors:
                return {"errcode": 40058, "errmsg": "invalid cursor"}
            start = self.groupchat_cursors.get(cursor, 0)
            rows = [
                {"chat_id": g["chat_id"], "status": g["status"]}
                for g in self.groupchats.values()
                if not g["dismissed"]
                and (not status_filter or g["status"] == status_filter)
                and (not owners or g["owner"] in owners)
            ]
            page = rows[start : start + limit]
            next_cursor = ""
            if start + limit < len(rows):
                next_cursor = secrets.token_hex(8)
                self.groupchat_cursors[next_cursor] = start + limit
        return {"errcode": 0, "errmsg": "ok", "group_chat_list": page, "next_cursor": next_cursor}

    def groupchat_get(self, body):
        with self.lock:
            group = self.groupchats.get(body.get("chat_id") or "")
            if group is None or group["dismissed"]:
                return {"errcode": 40050, "errmsg": "invalid chatid"}
            need_name = int(body.get("need_name") or 0) == 1
            members = []
            for m in group["members"].values():
                row = {
                    "userid": m["userid"],
                    "type": m["type"],
                    "join_time": m["join_time"],
                    "join_scene": m["join_scene"],
                    "group_nickname": "",
                }
                if m.get("invitor"):
                    row["invitor"] = {"userid": m["invitor"]}
                if need_name:
                    row["name"] = m["name"]
                if m["type"] == MEMBER_EXTERNAL:
                    row["unionid"] = ""
                members.append(row)
            return {
                "errcode": 0,
                "errmsg": "ok",
                "group_chat": {
                    "chat_id": group["chat_id"],
                    "name": group["name"],
                    "owner": group["owner"],
                    "create_time": group["create_time"],
                    "notice": group["notice"],
                    "member_list": members,
                    "admin_list": [],
                },
            }

    # Control: what happens in the WeCom clients, each pushed as its event -----------------

    def _member(self, userid, *, type_, join_scene=JOIN_DIRECT, invitor="", name=None):
        return {
            "userid": userid,
            "type": type_,
            "join_time": int(time.time()),
            "join_scene": join_scene,
            "invitor": invitor,
            "name": name or userid,
        }

    def _chat_event(self, chat_id, change_type, **extra):
        return {
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "change_external_chat",
            "ChatId": chat_id,
            "ChangeType": change_type,
            **extra,
        }

    def _push_if(self, corp_id, fields):
        """Push the event when an app is named; the fields are answered either way."""
        if corp_id and corp_id in self.apps:
            result = self.push(corp_id, fields)
            result.pop("body", None)
            result.pop("params", None)
            return {**result, "fields": fields}
        return {"status": None, "fields": fields}

    def group_create(self, *, owner, name="", externals=(), chat_id=None, corp_id=""):
        chat_id = chat_id or "wr" + secrets.token_hex(10)
        with self.lock:
            members = {owner: self._member(owner, type_=MEMBER_STAFF)}
            for external_userid in externals:
                contact = self.contacts.get(external_userid) or {}
                members[external_userid] = self._member(
                    external_userid,
                    type_=MEMBER_EXTERNAL,
                    invitor=owner,
                    name=(contact.get("external_contact") or {}).get("name"),
                )
            self.groupchats[chat_id] = {
                "chat_id": chat_id,
                "name": name,
                "owner": owner,
                "create_time": int(time.time()),
                "notice": "",
                "status": 0,
                "dismissed": False,
                "members": members,
                "version": 1,
            }
        result = self._push_if(corp_id, self._chat_event(chat_id, "create"))
        return {**result, "chat_id": chat_id}

    def _update(self, corp_id, chat_id, detail, **extra):
        with self.lock:
            group = self.groupchats[chat_id]
            last = group["version"]
            group["version"] += 1
            fields = self._chat_event(
                chat_id,
                "update",
                UpdateDetail=detail,
                LastMemVer=f"v{last}",
                CurMemVer=f"v{group['version']}",
                **extra,
            )
        return self._push_if(corp_id, fields)

    def group_join(self, chat_id, userids, *, join_scene=JOIN_QRCODE, corp_id=""):
        with self.lock:
            group = self.groupchats.get(chat_id)
            if group is None or group["dismissed"]:
                return {"status": None, "error": "unknown chat"}
            for userid in userids:
                type_ = MEMBER_STAFF if userid in self.users else MEMBER_EXTERNAL
                group["members"][userid] = self._member(
                    userid, type_=type_, join_scene=join_scene, invitor=group["owner"]
                )
        return self._update(
            corp_id,
            chat_id,
            "add_member",
            JoinScene=join_scene,
            MemChangeCnt=len(userids),
        )

    def group_leave(self, chat_id, userids, *, quit_scene=0, corp_id=""):
        with self.lock:
            group = self.groupchats.get(chat_id)
            if group is None or group["dismissed"]:
                return {"status": None, "error": "unknown chat"}
            for userid in userids:
                group["members"].pop(userid, None)
        return self._update(
            corp_id, chat_id, "del_member", QuitScene=quit_scene, MemChangeCnt=len(userids)
        )

    def group_rename(self, chat_id, name, *, corp_id=""):
        with self.lock:
            self.groupchats[chat_id]["name"] = name
        return self._update(corp_id, chat_id, "change_name")

    def group_owner(self, chat_id, owner, *, corp_id=""):
        with self.lock:
            group = self.groupchats[chat_id]
            group["owner"] = owner
            group["members"].setdefault(owner, self._member(owner, type_=MEMBER_STAFF))
        return self._update(corp_id, chat_id, "change_owner")

    def group_dismiss(self, chat_id, *, corp_id=""):
        with self.lock:
            self.groupchats[chat_id]["dismissed"] = True
        return self._push_if(corp_id, self._chat_event(chat_id, "dismiss"))
