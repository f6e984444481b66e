"""The fake WeCom's customer-contact side: external contacts and their follow users, the corp
tag library, and pushing signed, encrypted callbacks to an app's callback URL, as WeCom does.

"A patient with this state just added staff member X": `push_add(corp_id, userid, state)`
stores the contact (so externalcontact/get answers it), issues a real 20-second welcome
code, builds the add_external_contact XML, encrypts and signs it with the app's token,
EncodingAESKey and corp id (wechatpy's crypto), and POSTs it to the callback URL.
"""

import random
import secrets
import time
from xml.sax.saxutils import escape

import requests
from wechatpy.work.crypto import WeChatCrypto

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞"


def event_xml(fields: dict) -> str:
    """A WeCom event packet: <xml><Field><![CDATA[value]]></Field>…</xml>."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{escape(str(value))}]]></{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


class ContactsMixin:
    def _reset_contacts(self):
        self.apps = {}  # corp id -> {"callback_url", "token", "aes_key"}
        self.contacts = {}  # external_userid -> {"external_contact": {...}, "follow_user": [...]}
        self.follow_userids = set()
        self.tag_groups = []  # [{"group_id", "group_name", "tag": [{"id", "name"}]}]
        self.marked = []  # mark_tag calls
        self.pushes = []  # callbacks pushed: {"change_type", "status", "ms"}

    def reset_received(self):
        """Forget what was received (messages, welcomes, pushes), keep apps and contacts."""
        with self.lock:
            self.welcome_messages.clear()
            self.messages.clear()
            self.pushes.clear()

    # Contacts ----------------------------------------------------------------------

    def add_contact(
        self, *, userid, external_userid=None, name=None, state="", remark="", tag_ids=()
    ):
        """Make `external_userid` a contact of staff member `userid` (no callback)."""
        external_userid = external_userid or "wm" + secrets.token_hex(12)
        name = name or random.choice(SURNAMES) + "".join(random.sample(GIVEN, 2))
        with self.lock:
            self.follow_userids.add(userid)
            contact = self.contacts.setdefault(
                external_userid,
                {
                    "external_contact": {
                        "external_userid": external_userid,
                        "name": name,
                        "type": 1,
                        "gender": random.choice([1, 2]),
                        "avatar": "",
                    },
                    "follow_user": [],
                },
            )
            contact["follow_user"] = [f for f in contact["follow_user"] if f["userid"] != userid]
            contact["follow_user"].append(
                {
                    "userid": userid,
                    "remark": remark,
                    "createtime": int(time.time()),
                    "state": state,
                    "tags": [self._tag_ref(t) for t in tag_ids],
                }
            )
        return external_userid

    def remove_follow(self, *, userid, external_userid):
        with self.lock:
            contact = self.contacts.get(external_userid)
            if contact:
                contact["follow_user"] = [
                    f for f in contact["follow_user"] if f["userid"] != userid
                ]
                if not contact["follow_user"]:
                    self.contacts.pop(external_userid)

    def _tag_ref(self, tag_id):
        for group in self.tag_groups:
            for tag in group["tag"]:
                if tag["id"] == tag_id:
                    return {
                        "group_name": group["group_name"],
                        "tag_name": tag["name"],
                        "tag_id": tag_id,
                        "type": 1,
                    }
        return {"group_name": "", "tag_name": "", "tag_id": tag_id, "type": 1}

    def get_follow_user_list(self):
        with self.lock:
            return {"errcode": 0, "errmsg": "ok", "follow_user": sorted(self.follow_userids)}

    def batch_get_by_user(self, body):
        userids = body.get("userid_list") or [body.get("userid", "")]
        limit = max(1, min(int(body.get("limit") or 50), 100))
        start = int(body.get("cursor") or 0)
        with self.lock:
            rows = []
            for external_userid in sorted(self.contacts):
                contact = self.contacts[external_userid]
                for follow in contact["follow_user"]:
                    if follow["userid"] in userids:
                        info = {k: v for k, v in follow.items() if k != "tags"}
                        info["tag_id"] = [t["tag_id"] for t in follow["tags"]]
                        rows.append(
                            {"external_contact": contact["external_contact"], "follow_info": info}
                        )
            page = rows[start : start + limit]
            cursor = str(start + limit) if start + limit < len(rows) else ""
            return {
                "errcode": 0,
                "errmsg": "ok",
                "external_contact_list": page,
                "next_cursor": cursor,
            }

    # Contact ways ("contact me" QR codes) ------------------------------------------------

    def add_contact_way(self, body):
        with self.lock:
            state = body.get("state", "")
            if len(state) > 30:
                return {"errcode": 40058, "errmsg": "state too long"}
            config_id = secrets.token_hex(16)
            self.contact_ways.append({**body, "config_id": config_id})
            return {
                "errcode": 0,
                "errmsg": "ok",
                "config_id": config_id,
                "qr_code": f"https://wework.qpic.cn/fake/{config_id}.png",
            }

    def _contact_way(self, config_id):
        return next((w for w in self.contact_ways if w["config_id"] == config_id), None)

    # WeCom answers an unknown (or deleted) config_id with 40058, its "invalid parameter".
    UNKNOWN_WAY = {"errcode": 40058, "errmsg": "invalid config_id"}

    def get_contact_way(self, body):
        with self.lock:
            way = self._contact_way(body.get("config_id"))
            if way is None:
                return dict(self.UNKNOWN_WAY)
            return {"errcode": 0, "errmsg": "ok", "contact_way": dict(way)}

    def update_contact_way(self, body):
        """Replaces the user list and the remark; type, scene and QR code stay."""
        with self.lock:
            way = self._contact_way(body.get("config_id"))
            if way is None:
                return dict(self.UNKNOWN_WAY)
            if len(body.get("remark") or "") > 30 or len(body.get("state") or "") > 30:
                return {"errcode": 40058, "errmsg": "remark or state too long"}
            if way.get("type") == 1 and len(body.get("user") or way.get("user") or []) != 1:
                return {"errcode": 40058, "errmsg": "a single-person contact way has one user"}
            for key in ("remark", "skip_verify", "state", "user", "party"):
                if key in body:
                    way[key] = body[key]
            return {"errcode": 0, "errmsg": "ok"}

    def del_contact_way(self, body):
        with self.lock:
            way = self._contact_way(body.get("config_id"))
            if way is None:
                return dict(self.UNKNOWN_WAY)
            self.contact_ways.remove(way)
            return {"errcode": 0, "errmsg": "ok"}

    # Corp tags -----------------------------------------------------------------------

    def get_corp_tag_list(self, body):
        with self.lock:
            return {"errcode": 0, "errmsg": "ok", "tag_group": [dict(g) for g in self.tag_groups]}

    def add_corp_tag(self, body):
        with self.lock:
            group = next(
                (
                    g
                    for g in self.tag_groups
                    if g["group_id"] == body.get("group_id")
                    or g["group_name"] == body.get("group_name")
                ),
                None,
            )
            if group is None:
                if not body.get("group_name"):
                    return {"errcode": 40068, "errmsg": "invalid tag group"}
                group = {
                    "group_id": "et" + secrets.token_hex(8),
                    "group_name": body["group_name"],
                    "tag": [],
                }
                self.tag_groups.append(group)
            added = []
            for item in body.get("tag") or []:
                if any(t["name"] == item.get("name") for t in group["tag"]):
                    return {"errcode": 40071, "errmsg": "tag name exists"}
                tag = {"id": "et" + secrets.token_hex(10), "name": item.get("name", "")}
                group["tag"].append(tag)
                added.append(tag)
            return {"errcode": 0, "errmsg": "ok", "tag_group": {**group, "tag": added}}

    def edit_corp_tag(self, body):
        with self.lock:
            for group in self.tag_groups:
                if group["group_id"] == body.get("id"):
                    group["group_name"] = body.get("name") or group["group_name"]
                    return {"errcode": 0, "errmsg": "ok"}
                for tag in group["tag"]:
                    if tag["id"] == body.get("id"):
                        tag["name"] = body.get("name") or tag["name"]
                        return {"errcode": 0, "errmsg": "ok"}
            return {"errcode": 40068, "errmsg": "invalid tagid"}

    def del_corp_tag(self, body):
        with self.lock:
            ids = set(body.get("tag_id") or [])
            groups = set(body.get("group_id") or [])
            self.tag_groups = [g for g in self.tag_groups if g["group_id"] not in groups]
            for group in self.tag_groups:
                group["tag"] = [t for t in group["tag"] if t["id"] not in ids]
            return {"errcode": 0, "errmsg": "ok"}

    def mark_tag(self, body):
        with self.lock:
            contact = self.contacts.get(body.get("external_userid", ""))
            follow = next(
                (f for f in (contact or {}).get("follow_user", []) if f["userid"] == body.get("userid")),
                None,
            )  # fmt: skip
            if follow is None:
                return {"errcode": 84061, "errmsg": "not external contact"}
            remove = set(body.get("remove_tag") or [])
            kept = [t for t in follow["tags"] if t["tag_id"] not in remove]
            have = {t["tag_id"] for t in kept}
            kept += [self._tag_ref(t) for t in body.get("add_tag") or [] if t not in have]
            follow["tags"] = kept
            self.marked.append(dict(body))
            return {"errcode": 0, "errmsg": "ok"}

    def remark(self, body):
        with self.lock:
            contact = self.contacts.get(body.get("external_userid", ""))
            for follow in (contact or {}).get("follow_user", []):
                if follow["userid"] == body.get("userid"):
                    follow["remark"] = body.get("remark", follow["remark"])
                    return {"errcode": 0, "errmsg": "ok"}
            return {"errcode": 84061, "errmsg": "not external contact"}

    # Callbacks -----------------------------------------------------------------------

    def register_app(self, *, corp_id, callback_url, token, aes_key):
        """What an admin pastes into WeCom's console: the callback URL, Token, EncodingAESKey."""
        with self.lock:
            self.apps[corp_id] = {"callback_url": callback_url, "token": token, "aes_key": aes_key}

    def signed_packet(self, corp_id, fields, *, timestamp=None, nonce=None):
        """(query params, body) of a callback POST, encrypted and signed like WeCom's."""
        app = self.apps[corp_id]
        xml = event_xml({"ToUserName": corp_id, **fields})
        crypto = WeChatCrypto(app["token"], app["aes_key"], corp_id)
        timestamp = str(timestamp or int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        envelope = crypto.encrypt_message(xml, nonce, timestamp)
        # wechatpy's envelope carries the signature; WeCom sends it in the query string.
        signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        body = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        return params, body.encode()

    def post_packet(self, corp_id, params, body):
        app = self.apps[corp_id]
        started = time.monotonic()
        try:
            response = requests.post(
                app["callback_url"],
                params=params,
                data=body,
                headers={"Content-Type": "text/xml"},
                timeout=5,  # WeCom waits 5 s, then retries
            )
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = 0, exc.__class__.__name__
        return status, text, int((time.monotonic() - started) * 1000)

    def push(self, corp_id, fields, *, timestamp=None):
        """POST one event to the app's callback URL; returns (status, text, ms)."""
        params, body = self.signed_packet(corp_id, fields, timestamp=timestamp)
        status, text, ms = self.post_packet(corp_id, params, body)
        with self.lock:
            self.pushes.append({"fields": dict(fields), "status": status, "ms": ms})
        return {"status": status, "text": text, "ms": ms, "params": params, "body": body}

    def _contact_event(self, change_type, userid, external_userid, **extra):
        return {
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": change_type,
            "UserID": userid,
            "ExternalUserID": external_userid,
            **extra,
        }

    def push_add(self, corp_id, *, userid, state="", name=None, external_userid=None):
        """A patient scanned a code with `state` and added staff member `userid`."""
        external_userid = self.add_contact(
            userid=userid, external_userid=external_userid, name=name, state=state
        )
        code = self.issue_welcome_code()
        extra = {"State": state} if state else {}
        fields = self._contact_event(
            "add_external_contact", userid, external_userid, WelcomeCode=code, **extra
        )
        result = self.push(corp_id, fields)
        return {**result, "external_userid": external_userid, "welcome_code": code}

    def push_edit(self, corp_id, *, userid, external_userid, remark=None, tag_ids=None):
        with self.lock:
            contact = self.contacts.get(external_userid) or {"follow_user": []}
            for follow in contact["follow_user"]:
                if follow["userid"] == userid:
                    if remark is not None:
                        follow["remark"] = remark
                    if tag_ids is not None:
                        follow["tags"] = [self._tag_ref(t) for t in tag_ids]
        fields = self._contact_event("edit_external_contact", userid, external_userid)
        return self.push(corp_id, fields)

    def push_delete(self, corp_id, *, userid, external_userid, by_patient=True):
        """del_follow_user (the patient deleted the staff member) or del_external_contact."""
        self.remove_follow(userid=userid, external_userid=external_userid)
        change = "del_follow_user" if by_patient else "del_external_contact"
        return self.push(corp_id, self._contact_event(change, userid, external_userid))
