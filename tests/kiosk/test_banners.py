"""What a banner says (issue 12, defect 9): a sentence for the packer, with no HTTP code in
front of it ("409 …", "400 …"), starting with a capital and ending with a full stop — in
Swedish and Norwegian as in English."""

from __future__ import annotations

import re
from html import unescape

import pytest

from stationd.core.barcodes import classify
from stationd.core.bench import decide_scan
from stationd.kiosk.i18n import COOKIE, translate

HX = {"HX-Request": "true"}

#: Codes the bench can't use, each refused for another reason by classify().
UNUSABLE = [
    "12345",  # a number of 5 digits
    "RR473124828SE",  # a postal parcel id with a wrong check digit
    "7310865004704",  # an EAN-13 with a wrong check digit
    "373500000000000018",  # an SSCC with a wrong check digit
    "ORD-12x",
    "CMD-JUMP",
    "OP-",
    "ab",
    "a" * 300,
    "AB\x01CD",
    "ÅÄÖ-123",
    "(01)123",
]


def alerts(response) -> list[str]:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    found = re.findall(r'<div class="outcome error"[^>]*role="alert"[^>]*>(.*?)</div>', html, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", one)).split()) for one in found]


def is_whole_sentence(said: str) -> bool:
    return said[:1].isupper() and said.endswith((".", "!", "?"))


@pytest.mark.parametrize("language", ["en", "sv", "nb"])
def test_r12_every_unusable_scan_is_said_in_a_whole_sentence(station, language):
    with station.app.test_request_context(headers={"Cookie": f"{COOKIE}={language}"}):
        for code in UNUSABLE:
            outcome = decide_scan(classify(code), None)
            assert not outcome.ok, code
            said = translate(outcome.message)
            assert is_whole_sentence(said), f"{code!r} → {said!r}"


def test_r12_an_unusable_scan_at_the_bench_is_a_swedish_sentence(client):
    client.set_cookie(COOKIE, "sv")
    answer = client.post("/bench/scan", data={"code": "RR473124828SE"}, headers=HX)
    html = answer.get_data(as_text=True)
    said = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert "Skanningen godtas inte: postens kolli-id RR473124828SE har fel kontrollsiffra" in said
    assert 'data-sound="error"' in html


@pytest.mark.parametrize("language", ["en", "sv", "nb"])
def test_r9_no_http_code_in_a_refusal_banner(client, station, language):
    client.set_cookie(COOKIE, language)
    refusals = [
        client.post("/bench/count", data={"line": "1", "delta": "7"}, headers=HX),  # 400
        client.get("/orders/999999", headers=HX),  # 404
        client.post("/queue/print", data={"document": "invoice", "order": "1042"}, headers=HX),
        client.get("/orders/999999"),  # the whole page
        client.get("/no/such/page"),
    ]
    for response in refusals:
        assert response.status_code >= 400
        said = alerts(response)
        assert said, response.get_data(as_text=True)[:300]
        for sentence in said:
            assert not re.match(r"\d{3}\b", sentence), sentence
            assert is_whole_sentence(sentence), sentence
