"""Callbacks that must not be trusted are refused with 4xx and change nothing: bad signature,
another corp, outside the replay window, malformed, oversized, DTD/entity declarations."""

import time

import pytest

from patients.models import Patient
from tests.conftest import AES_KEY, CALLBACK_TOKEN, CORP_ID
from tests.test_callbacks import URL, add_event, post
from wechat.models import CallbackEvent, Delivery

pytestmark = pytest.mark.django_db


def signed(fake, fields, **kw):
    return fake.signed_packet(CORP_ID, fields, **kw)


def refusal_cases(fake):
    fields = add_event(fake)
    params, body = signed(fake, fields)
    cases = {}
    cases["bad signature"] = ({**params, "msg_signature": "f" * 40}, body)
    stale_params, stale_body = signed(fake, fields, timestamp=int(time.time()) - 301)
    cases["older than 5 minutes"] = (stale_params, stale_body)
    future_params, future_body = signed(fake, fields, timestamp=int(time.time()) + 400)
    cases["from the future"] = (future_params, future_body)
    # Encrypted for another corp with our keys: the ReceiveId does not match.
    fake.register_app(corp_id="ww-other", callback_url="", token=CALLBACK_TOKEN, aes_key=AES_KEY)
    cases["wrong corp id"] = fake.signed_packet("ww-other", fields)
    cases["malformed XML"] = (params, b"<xml><Encrypt>abc</Encrypt")
    cases["oversized body"] = (params, b"<xml><Encrypt>" + b"A" * 70_000 + b"</Encrypt></xml>")
    cases["entity declaration"] = (
        params,
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x "boom">]>'
        b"<xml><Encrypt>&x;</Encrypt></xml>",
    )
    cases["no Encrypt"] = (params, b"<xml><ToUserName>ww-test-corp</ToUserName></xml>")
    cases["garbage ciphertext"] = (params, b"<xml><Encrypt>!!!</Encrypt></xml>")
    cases["no signature"] = ({"timestamp": params["timestamp"], "nonce": "n"}, body)
    return cases


REFUSALS = [
    "bad signature",
    "older than 5 minutes",
    "from the future",
    "wrong corp id",
    "malformed XML",
    "oversized body",
    "entity declaration",
    "no Encrypt",
    "garbage ciphertext",
    "no signature",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_untrustworthy_callbacks_are_refused_and_change_nothing(
    case, callback_account, fake_wecom, client, wecom_staff
):
    params, body = refusal_cases(fake_wecom)[case]
    response = post(client, params, body)
    assert 400 <= response.status_code < 500, response.content
    assert CallbackEvent.objects.count() == 0
    assert Patient.objects.count() == 0 and Delivery.objects.count() == 0


def test_the_inner_to_user_name_must_be_our_corp(callback_account, fake_wecom, client):
    fields = {**add_event(fake_wecom), "ToUserName": "ww-someone-else"}
    params, body = fake_wecom.signed_packet(CORP_ID, fields)
    assert b"ww-someone-else" not in body
    response = post(client, params, body)
    # signed_packet puts our corp first; the event's own ToUserName overrides it.
    assert response.status_code == 403 and CallbackEvent.objects.count() == 0


def test_unknown_clinic_and_unconfigured_clinic_are_404(client, clinic, wecom_account):
    assert client.get("/wechat/callback/nowhere/", {"echostr": "x"}).status_code == 404
    # Clinic A has an account but no callback keys yet.
    assert client.post(URL, data=b"<xml/>", content_type="text/xml").status_code == 404


def test_other_methods_are_refused(callback_account, client):
    assert client.put(URL).status_code == 405
