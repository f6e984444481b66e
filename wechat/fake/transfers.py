"""The fake WeCom's staff directory and customer transfers (在职继承, 离职继承), with WeCom's rules.

From WeCom's documentation (通讯录管理 → 成员/部门; 客户联系 → 在职继承 / 离职继承):
- `department/list` answers the departments (id, name, parentid, order); `id` narrows it to
  one department and its children. `user/list?department_id=` answers its members (with
  status: 1 active, 2 disabled, 4 not activated, 5 quit); `fetch_child=1` includes
  sub-departments. An unknown department is 60123. A member who left (离职) is deleted
  from the directory: they are in no list any more.
- `externalcontact/transfer_customer` (在职继承): handover_userid, takeover_userid, at most 100
  external_userid, transfer_success_msg at most 200 characters. Each customer gets its own
  errcode: 0 means the transfer started and happens automatically after 24 hours, unless
  the customer refuses; 40096 not a customer of handover_userid; 40129 already being
  transferred; 40128 this customer was transferred twice in the last 90 days.
  The takeover must have the customer-contact feature (84074 otherwise).
- `externalcontact/resigned/transfer_customer` (离职继承): the same, for a handover_userid who
  left (40097 otherwise); no message to the customer and no 90-day rule.
- `externalcontact/transfer_result` and `resigned/transfer_result`: per customer of the
  pair handover→takeover, status 1 done, 2 waiting (takeover_time is the future automatic
  time), 3 refused by the customer, 4 the takeover reached their customer limit, 5 no
  transfer record; cursor paging, at most 1000 rows a page.

Control (what WeCom's clock and the customers do): `transfers_advance(seconds)` moves the
fake's transfer clock; `transfer_refuse(external_userid)` is the customer pressing 拒绝
within the 24 hours; `staff_set(...)` / `staff_resign(userid)` change the directory.
"""

import time

TRANSFER_BATCH = 100
TRANSFER_MSG_MAX = 200
TRANSFER_WAIT = 86_400  # a transfer happens 24 hours after it was started
TRANSFERS_PER_90_DAYS = 2
NINETY_DAYS = 90 * 86_400
RESULT_PAGE = 1000
CUSTOMER_LIMIT = 50_000  # customers of one member

DONE, WAITING, REFUSED, LIMIT, NO_RECORD = 1, 2, 3, 4, 5
USER_ACTIVE, USER_DISABLED, USER_INACTIVE, USER_QUIT = 1, 2, 4, 5


class TransfersMixin:
    def _reset_transfers(self):
        self.departments = [{"id": 1, "name": "诊所", "name_en": "", "parentid": 0, "order": 1}]
        self.users = {}  # userid -> {"userid", "name", "department", "status", "mobile"...}
        self.resigned = {}  # userid -> dimission time
        self.transfers = []  # {"kind", "handover", "takeover", "external_userid", "status", ...}
        self.transfer_clock = 0.0  # seconds the fake's transfer clock is ahead of real time
        self.customer_limit = CUSTOMER_LIMIT

    def _now(self):
        return time.time() + self.transfer_clock

    # The directory ------------------------------------------------------------------

    def staff_set(self, *, userid, name, department=(1,), status=USER_ACTIVE, position=""):
        """Control: a member in the directory (added or changed)."""
        with self.lock:
            self.resigned.pop(userid, None)
            self.users[userid] = {
                "userid": userid,
                "name": name,
                "department": list(department),
                "position": position,
                "status": status,
            }

    def staff_resign(self, userid):
        """Control: the member left (离职): deleted from the directory, their customers wait
        for 离职继承."""
        with self.lock:
            self.users.pop(userid, None)
            self.follow_userids.discard(userid)
            self.resigned[userid] = int(self._now())

    def department_add(self, *, id, name, parentid=1):
        with self.lock:
            self.departments.append(
                {"id": int(id), "name": name, "name_en": "", "parentid": int(parentid), "order": 1}
            )

    def _subtree(self, root):
        ids, frontier = {root}, [root]
        while frontier:
            parent = frontier.pop()
            for dep in self.departments:
                if dep["parentid"] == parent and dep["id"] not in ids:
                    ids.add(dep["id"])
                    frontier.append(dep["id"])
        return ids

    def department_list(self, query):
        with self.lock:
            if query.get("id"):
                try:
                    root = int(query["id"])
                except ValueError:
                    return {"errcode": 60123, "errmsg": "invalid party id"}
                if not any(d["id"] == root for d in self.departments):
                    return {"errcode": 60123, "errmsg": "invalid party id"}
                ids = self._subtree(root)
                rows = [dict(d) for d in self.departments if d["id"] in ids]
            else:
                rows = [dict(d) for d in self.departments]
        return {"errcode": 0, "errmsg": "ok", "department": rows}

    def user_list(self, query):
        try:
            department_id = int(query.get("department_id", ""))
        except ValueError:
            return {"errcode": 60123, "errmsg": "invalid party id"}
        with self.lock:
            if not any(d["id"] == department_id for d in self.departments):
                return {"errcode": 60123, "errmsg": "invalid party id"}
            ids = (
                self._subtree(department_id) if query.get("fetch_child") == "1" else {department_id}
            )
            rows = [
                dict(u) for u in self.users.values() if ids & set(u["department"])
            ]  # fmt: skip
        rows.sort(key=lambda u: u["userid"])
        return {"errcode": 0, "errmsg": "ok", "userlist": rows}

    # Transfers ------------------------------------------------------------------------

    def _settle(self):
        """Transfers whose 24 hours are over happen now (or meet the takeover's limit)."""
        now = self._now()
        for transfer in self.transfers:
            if transfer["status"] != WAITING or transfer["takeover_time"] > now:
                continue
            takeover = transfer["takeover"]
            customers = sum(
                1
                for c in self.contacts.values()
                if any(f["userid"] == takeover for f in c["follow_user"])
            )
            if customers >= self.customer_limit:
                transfer["status"] = LIMIT
                continue
            contact = self.contacts.get(transfer["external_userid"])
            if contact is None:
                transfer["status"] = NO_RECORD
                continue
            old = next(
                (f for f in contact["follow_user"] if f["userid"] == transfer["handover"]), None
            )
            contact["follow_user"] = [
                f for f in contact["follow_user"] if f["userid"] not in (transfer["handover"], takeover)
            ]  # fmt: skip
            contact["follow_user"].append(
                {
                    "userid": takeover,
                    "remark": (old or {}).get("remark", ""),
                    "createtime": int(now),
                    "state": (old or {}).get("state", ""),
                    "tags": (old or {}).get("tags", []),
                }
            )
            transfer["status"] = DONE
            transfer["takeover_time"] = int(now)

    def _transfer_check(self, body, *, resigned):
        handover = body.get("handover_userid") or ""
        takeover = body.get("takeover_userid") or ""
        userids = body.get("external_userid")
        if not handover or not takeover:
            return {"errcode": 40058, "errmsg": "handover_userid and takeover_userid required"}
        if not isinstance(userids, list) or not userids:
            return {"errcode": 40058, "errmsg": "external_userid required"}
        if len(userids) > TRANSFER_BATCH:
            return {"errcode": 40058, "errmsg": "at most 100 external_userid"}
        if len(body.get("transfer_success_msg") or "") > TRANSFER_MSG_MAX:
            return {"errcode": 40058, "errmsg": "transfer_success_msg exceeds 200 characters"}
        if takeover not in self.users or self.users[takeover]["status"] != USER_ACTIVE:
            return {"errcode": 60111, "errmsg": "invalid takeover userid"}
        if takeover not in self.follow_userids:
            return {"errcode": 84074, "errmsg": "takeover has no customer-contact permission"}
        if resigned and handover not in self.resigned:
            return {"errcode": 40097, "errmsg": "the handover user has not resigned"}
        if not resigned and handover not in self.users:
            return {"errcode": 60111, "errmsg": "invalid handover userid"}
        return None

    def _transfer(self, body, *, resigned):
        with self.lock:
            self._settle()
            error = self._transfer_check(body, resigned=resigned)
            if error:
                return error
            handover, takeover = body["handover_userid"], body["takeover_userid"]
            now = self._now()
            kind = "resigned" if resigned else "onjob"
            rows = []
            for external_userid in body["external_userid"]:
                rows.append(
                    {
                        "external_userid": external_userid,
                        "errcode": self._transfer_one(
                            kind, handover, takeover, external_userid, now
                        ),
                    }
                )
            return {"errcode": 0, "errmsg": "ok", "customer": rows}

    def _transfer_one(self, kind, handover, takeover, external_userid, now):
        if not self._is_contact(handover, external_userid):
            return 40096
        if any(
            t["external_userid"] == external_userid and t["status"] == WAITING
            for t in self.transfers
        ):
            return 40129
        if kind == "onjob":
            recent = [
                t
                for t in self.transfers
                if t["kind"] == "onjob"
                and t["external_userid"] == external_userid
                and now - t["started"] < NINETY_DAYS
            ]
            if len(recent) >= TRANSFERS_PER_90_DAYS:
                return 40128
        self.transfers.append(
            {
                "kind": kind,
                "handover": handover,
                "takeover": takeover,
                "external_userid": external_userid,
                "status": WAITING,
                "started": now,
                "takeover_time": int(now + TRANSFER_WAIT),
            }
        )
        return 0

    def transfer_customer(self, body):
        return self._transfer(body, resigned=False)

    def resigned_transfer_customer(self, body):
        return self._transfer(body, resigned=True)

    def _transfer_result(self, body, *, kind):
        handover = body.get("handover_userid") or ""
        takeover = body.get("takeover_userid") or ""
        if not handover or not takeover:
            return {"errcode": 40058, "errmsg": "handover_userid and takeover_userid required"}
        with self.lock:
            self._settle()
            rows = [
                {
                    "external_userid": t["external_userid"],
                    "status": t["status"],
                    "takeover_time": t["takeover_time"] if t["status"] in (DONE, WAITING) else 0,
                }
                for t in self.transfers
                if t["kind"] == kind and t["handover"] == handover and t["takeover"] == takeover
            ]
        start = int(body.get("cursor") or 0)
        page = rows[start : start + RESULT_PAGE]
        cursor = str(start + RESULT_PAGE) if start + RESULT_PAGE < len(rows) else ""
        return {"errcode": 0, "errmsg": "ok", "customer": page, "next_cursor": cursor}

    def transfer_result(self, body):
        return self._transfer_result(body, kind="onjob")

    def resigned_transfer_result(self, body):
        return self._transfer_result(body, kind="resigned")

    # Control ----------------------------------------------------------------------------

    def transfers_advance(self, seconds):
        with self.lock:
            self.transfer_clock += float(seconds)
            self._settle()

    def transfer_refuse(self, external_userid):
        """The customer refuses the waiting transfer (WeCom asks them within the 24 hours)."""
        with self.lock:
            for transfer in self.transfers:
                if transfer["external_userid"] == external_userid and transfer["status"] == WAITING:
                    transfer["status"] = REFUSED
                    transfer["takeover_time"] = 0
                    return True
        return False
