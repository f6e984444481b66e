"""The send result of patient reminders (customer messages the staff member confirms in
WeCom): externalcontact/get_groupmsg_send_result, which wechat.transport does not wrap.
Kept here, on wechat.transport's client and call, so wechat/ stays its owner's."""

from wechat import transport

# WeCom's per-recipient status: 0 not sent yet, 1 sent, 2 not a contact, 3 already got one.
SEND_STATUS = {0: "unconfirmed", 1: "sent", 2: "not_a_contact", 3: "limit_reached"}


def groupmsg_send_result(account, *, msgid: str, sender: str) -> list[dict]:
    client = transport.client_for(account)
    result = transport.call(
        client,
        client.post,
        "externalcontact/get_groupmsg_send_result",
        data={"msgid": msgid, "userid": sender, "limit": 1000},
    )
    return result.get("send_list", [])
