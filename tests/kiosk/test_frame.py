"""What every kiosk page shares: CSRF on every state change, the language switch, money and
times in the locale's format, the navigation, and a fragment for htmx."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stationd.kiosk.csrf import COOKIE


def test_post_without_its_csrf_token_is_refused_and_changes_nothing(station):
    client = station.app.test_client()
    response = client.post("/bench/scan", data={"code": "ORD-1042"})
    assert response.status_code == 403
    assert "security token" in response.get_data(as_text=True)
    assert station.bench.current_order() is None


def test_post_with_a_forged_csrf_token_is_refused(station):
    client = station.app.test_client()
    client.set_cookie(COOKIE, "the-real-one")
    response = client.post("/bench/scan", data={"code": "ORD-1042", "csrf_token": "guessed"})
    assert response.status_code == 403
    assert station.bench.current_order() is None


def test_a_page_hands_out_the_token_that_its_form_posts(station):
    client = station.app.test_client()
    page = client.get("/bench")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.value in page.get_data(as_text=True)
    ok = client.post("/bench/scan", data={"code": "ORD-1042", "csrf_token": cookie.value})
    assert ok.status_code == 303
    assert station.bench.current_order().id == 1042


def test_language_switch_is_remembered_and_goes_back(client):
    response = client.post("/language", data={"language": "sv", "next": "/bench"})
    assert response.status_code == 303 and response.location.endswith("/bench")
    assert '<html lang="sv">' in client.get("/queue").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", ""])
def test_language_switch_never_redirects_off_the_station(client, target):
    response = client.post("/language", data={"language": "nb", "next": target})
    assert response.status_code == 303 and response.location.endswith("/queue")


def test_unknown_language_is_a_400_with_a_sentence(client):
    response = client.post("/language", data={"language": "xx"})
    assert response.status_code == 400
    assert "Unknown language" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "currency", "money", "when"),
    [
        ("sv", "SEK", "1\xa0234,50\xa0kr", "2026-03-05 14:07"),
        ("nb", "NOK", "1\xa0234,50\xa0kr", "05.03.2026, 14:07"),
        ("nb", "SEK", "1\xa0234,50\xa0SEK", "05.03.2026, 14:07"),
        ("sv", "NOK", "1\xa0234,50\xa0NOK", "2026-03-05 14:07"),  # not Swedish "Nkr"
        ("sv", "DKK", "1\xa0234,50\xa0DKK", "2026-03-05 14:07"),
        ("sv", "EUR", "1\xa0234,50\xa0€", "2026-03-05 14:07"),
        ("en", "SEK", "SEK1,234.50", "05/03/2026, 14:07"),
        ("sv", "NOK", "1\xa0234,50\xa0NOK", "2026-03-05 14:07"),  # issue 12: not "Nkr"
    ],
)
def test_money_and_times_in_the_locale_format(station, language, currency, money, when):
    app = station.app
    with app.test_request_context("/", headers={"Cookie": f"stationd_lang={language}"}):
        assert app.jinja_env.filters["money"](123450, currency) == money
        at = datetime(2026, 3, 5, 13, 7, tzinfo=UTC)  # Stockholm is UTC+1 in March
        assert app.jinja_env.filters["local"](at) == when
        # One date format per locale (issue 12): with seconds it is the same date.
        seconds = datetime(2026, 3, 5, 13, 7, 9, tzinfo=UTC)
        assert app.jinja_env.filters["local"](seconds, "medium") == when + ":09"


def test_navigation_links_every_page_and_marks_the_current(client):
    page = client.get("/bench").get_data(as_text=True)
    assert 'href="/queue"' in page and 'href="/bench" class="here"' in page


def test_error_for_htmx_is_a_fragment_with_the_sentence(client):
    response = client.get("/nowhere", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "<html" not in html and 'role="alert"' in html


# --- numbers no database and no int() can hold ------------------------------------------------

TOO_BIG = str(2**63)  # one above the largest id the database holds
NINES = "9" * 5000  # more digits than Python turns into an int


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("get", f"/orders/{TOO_BIG}", None),
        ("get", f"/orders/{TOO_BIG}/events", None),
        ("post", f"/orders/{TOO_BIG}/waiting", {"waiting": "1"}),
        ("post", f"/orders/{TOO_BIG}/lines/1/quantity", {"quantity": "2"}),
        ("post", f"/settings/own-statuses/{TOO_BIG}", {"name": "X"}),
        ("post", f"/operators/{TOO_BIG}/active", {}),
        ("get", f"/tools/packscript/runs/{TOO_BIG}", None),
    ],
)
def test_an_id_too_large_for_the_database_is_no_such_page(client, method, url, data):
    response = getattr(client, method)(url, data=data)
    assert response.status_code == 404
    assert "Something went wrong" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "url", "data", "status"),
    [
        ("get", f"/bench/commands?printed={NINES}", None, 200),
        ("get", f"/tools/packscript/why?order={NINES}", None, 400),
        ("get", f"/operators?operator={NINES}", None, 400),
        ("post", "/devices/scanner-test", {"seconds": NINES}, 400),
        ("post", "/bench/count", {"line": NINES, "delta": "1"}, 400),
        ("post", "/queue/print", {"order": NINES, "document": "picklist"}, 400),
    ],
)
def test_thousands_of_digits_are_a_sentence_not_a_500(client, method, url, data, status):
    response = getattr(client, method)(url, data=data)
    assert response.status_code == status
    assert "Something went wrong" not in response.get_data(as_text=True)


# --- issue 10: cookie tossing and open redirects ----------------------------------------------


def test_a_tossed_unsigned_csrf_cookie_is_refused(station):
    # A page on this host at another port can set a cookie here (cookies ignore ports) and post
    # the same value: the station signs its tokens, so the tossed one is refused.
    client = station.app.test_client()
    client.set_cookie(COOKIE, "tossed", path="/settings")
    response = client.post(
        "/settings/own-statuses", data={"code": "EVIL", "name": "x", "csrf_token": "tossed"}
    )
    assert response.status_code == 403
    assert "EVIL" not in client.get("/settings").get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
    ],
)
def test_a_post_from_another_origin_is_refused_even_with_a_good_token(client, station, headers):
    response = client.post("/bench/scan", data={"code": "ORD-1042"}, headers=headers)
    assert response.status_code == 403
    assert "another site" in response.get_data(as_text=True)
    assert station.bench.current_order() is None


def test_a_post_from_the_stations_own_page_passes_the_origin_check(client, station):
    response = client.post(
        "/bench/scan",
        data={"code": "ORD-1042"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert response.status_code == 303
    assert station.bench.current_order().id == 1042


def test_the_signing_secret_outlives_a_restart_and_is_private(station):
    from stationd.kiosk.csrf import is_signed, load_secret, new_token

    path = Path(station.settings.station.state_dir) / "kiosk-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    token = new_token(station.app.config["CSRF_SECRET"])
    assert is_signed(load_secret(path), token)


@pytest.mark.parametrize(
    "target", ["/\\example.invalid/x", "/\\\\example.invalid", "/\t/example.invalid", "http:x"]
)
def test_language_switch_refuses_paths_a_browser_reads_as_another_site(client, target):
    response = client.post("/language", data={"language": "nb", "next": target})
    assert response.status_code == 303 and response.location.endswith("/queue")
