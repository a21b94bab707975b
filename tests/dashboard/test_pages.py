"""The dashboard over HTTP against the running stack, without a browser: sign-in and the
session cookie, redirects, roles, and what each page shows."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
import pytest

from conftest import Stack, unique_id
from helpers import declaration
from store_calls import change_stored_event, stored_trail

from .conftest import JP_QUOTA, Seeded, signed_in

pytestmark = pytest.mark.stack


def set_cookie(response: httpx.Response) -> str:
    [header] = response.headers.get_list("set-cookie")
    return header


class Resources(HTMLParser):
    """Every URL a page makes the browser load (not the links a reader may follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def test_sign_in_page_is_a_form_that_posts_the_token(stack: Stack) -> None:
    """GET /dashboard/login is an HTML form posting a password field named token."""
    response = httpx.get(f"{stack.url}/dashboard/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/dashboard/login"' in response.text
    assert 'name="token" type="password"' in response.text


def test_signing_in_sets_an_httponly_strict_cookie_for_the_dashboard_only(stack: Stack) -> None:
    """A valid token gets a 303 to the overview and an HttpOnly, SameSite=Strict cookie on /dashboard."""
    response = httpx.post(f"{stack.url}/dashboard/login", data={"token": stack.tokens["auditor"]})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = set_cookie(response)
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in flags
    assert flags["samesite"].lower() == "samesite=strict"
    assert flags["path"] == "Path=/dashboard"
    assert "max-age" in flags
    assert stack.tokens["auditor"] not in cookie


def test_a_wrong_token_is_401_with_the_form_again_and_no_cookie(stack: Stack) -> None:
    """An unknown token answers 401, says so on the form, and sets no cookie."""
    response = httpx.post(f"{stack.url}/dashboard/login", data={"token": "x" * 30})
    assert response.status_code == 401
    assert "That token is not valid." in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/measures", "/dashboard/declarations/anything"]
)
def test_pages_send_a_visitor_without_a_session_to_sign_in(stack: Stack, path: str) -> None:
    """Without a session, every page redirects (303) to the sign-in form, remembering the page."""
    response = httpx.get(f"{stack.url}{path}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/login?next={path}"


def test_a_bearer_token_alone_does_not_open_the_dashboard(stack: Stack) -> None:
    """The dashboard reads its own session cookie, not the API's Authorization header."""
    with stack.client("admin") as client:
        assert client.get("/dashboard").status_code == 303


def test_a_forged_cookie_is_refused_and_cleared(stack: Stack) -> None:
    """A session cookie that does not verify redirects to sign-in and is deleted."""
    with signed_in(stack, "auditor") as client:
        genuine = client.cookies["accord_session"]
    version, subject, issued, mac = genuine.split(".")
    forged = f"{version}.{subject}.{int(issued) + 3600}.{mac}"
    response = httpx.get(f"{stack.url}/dashboard", cookies={"accord_session": forged})
    assert response.status_code == 303
    assert 'accord_session=""' in set_cookie(response)


def test_signing_out_ends_the_session_in_the_browser(stack: Stack) -> None:
    """POST /dashboard/logout deletes the cookie and the overview asks for sign-in again."""
    with signed_in(stack, "auditor") as client:
        assert client.get("/dashboard").status_code == 200
        response = client.post("/dashboard/logout")
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login"
        assert "Max-Age=0" in set_cookie(response)
        assert client.get("/dashboard").status_code == 303


def test_signing_out_ends_the_session_on_the_server(stack: Stack) -> None:
    """A copy of the cookie taken before sign-out is refused after it: back to sign-in."""
    with signed_in(stack, "auditor") as client:
        copied = client.cookies["accord_session"]
        assert client.post("/dashboard/logout").status_code == 303
    response = httpx.get(f"{stack.url}/dashboard", cookies={"accord_session": copied})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login")


def test_signing_out_one_session_leaves_the_others(stack: Stack) -> None:
    """Two sign-ins with one token are two sessions: ending one keeps the other."""
    with signed_in(stack, "auditor") as first, signed_in(stack, "auditor") as second:
        while second.cookies["accord_session"] == first.cookies["accord_session"]:
            second.post("/dashboard/login", data={"token": stack.tokens["auditor"]})
        assert first.post("/dashboard/logout").status_code == 303
        assert second.get("/dashboard").status_code == 200


def test_sign_in_and_sign_out_from_another_site_are_refused(stack: Stack) -> None:
    """A form posted from another origin neither signs in (login CSRF) nor signs out."""
    response = httpx.post(
        f"{stack.url}/dashboard/login",
        data={"token": stack.tokens["auditor"]},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    with signed_in(stack, "auditor") as client:
        refused = client.post("/dashboard/logout", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert client.get("/dashboard").status_code == 200


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(stack: Stack) -> None:
    """`next` brings the user back to the dashboard page they wanted; other hosts are ignored."""
    token = stack.tokens["auditor"]
    back = httpx.post(
        f"{stack.url}/dashboard/login",
        data={"token": token, "next": "/dashboard/measures?as_of=2026-03-10"},
    )
    assert back.headers["location"] == "/dashboard/measures?as_of=2026-03-10"
    away = httpx.post(
        f"{stack.url}/dashboard/login", data={"token": token, "next": "//evil.example/x"}
    )
    assert away.headers["location"] == "/dashboard"


def test_auditor_sees_the_quota_chart_drawn_from_the_ledger(stack: Stack, seeded: Seeded) -> None:
    """The overview charts the current period of the test quota with the units allocated."""
    with signed_in(stack, "auditor") as client:
        response = client.get("/dashboard")
    assert response.status_code == 200
    page = response.text
    card = page[page.index(f'data-quota-id="{JP_QUOTA}"') :]
    card = card[: card.index("</article>")]
    used = int(re.search(r'data-used="(\d+)"', card).group(1))  # type: ignore[union-attr]
    assert used >= seeded.quota_used
    points = int(re.search(r'data-points="(\d+)"', card).group(1))  # type: ignore[union-attr]
    assert points >= len(seeded.quota_ids)
    assert 'class="threshold"' in card
    assert "critical 90%" in card
    assert 'data-testid="sub-quota" data-name="affordable"' in card
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"


def test_latest_verdicts_list_every_outcome_and_filter_by_one(stack: Stack, seeded: Seeded) -> None:
    """The latest verdicts show accepted, rejected and held; a filter keeps only its outcome."""
    with signed_in(stack, "auditor") as client:
        everything = client.get("/dashboard").text
        rejected = client.get("/dashboard", params={"outcome": "rejected"}).text
    for declaration_id, kind in [
        (seeded.surtax_id, "accepted"),
        (seeded.rejected_id, "rejected"),
        (seeded.held_id, "held"),
        (seeded.other_id, "accepted"),
    ]:
        assert f'data-declaration-id="{declaration_id}" data-kind="{kind}"' in everything
    assert f'data-declaration-id="{seeded.rejected_id}"' in rejected
    assert f'data-declaration-id="{seeded.surtax_id}"' not in rejected
    kinds = set(re.findall(r'<tr data-declaration-id="[^"]+" data-kind="(\w+)"', rejected))
    assert kinds == {"rejected"}


def test_submitter_sees_only_its_own_importer(stack: Stack, seeded: Seeded) -> None:
    """A broker's overview lists its importer only; another importer's page is 404."""
    with signed_in(stack, "submitter") as client:
        overview = client.get("/dashboard").text
        theirs = client.get(f"/dashboard/declarations/{seeded.other_id}")
        mine = client.get(f"/dashboard/declarations/{seeded.surtax_id}")
    assert f'data-declaration-id="{seeded.surtax_id}"' in overview
    assert seeded.other_id not in overview
    assert theirs.status_code == 404
    assert "Declaration not found" in theirs.text
    assert seeded.other_id in theirs.text  # the id asked for, nothing of the declaration
    assert "Prairie Auto" not in theirs.text
    assert mine.status_code == 200
    with signed_in(stack, "other_submitter") as client:
        assert client.get(f"/dashboard/declarations/{seeded.other_id}").status_code == 200
        assert client.get(f"/dashboard/declarations/{seeded.surtax_id}").status_code == 404
        their_overview = client.get("/dashboard").text
    # the quota's ledger shows another importer's allocations as units, not declarations
    assert not [item for item in seeded.quota_ids if item in their_overview]
    assert "another importer's" in their_overview
    assert all(item in overview for item in seeded.quota_ids)


def test_declaration_page_shows_the_verdict_and_a_verified_trail(
    stack: Stack, seeded: Seeded
) -> None:
    """Lines, duties, findings with legal references, what is not assessed, and the trail
    marked verified."""
    with signed_in(stack, "auditor") as client:
        response = client.get(f"/dashboard/declarations/{seeded.surtax_id}")
        with stack.client("auditor") as api:
            verdict = api.get(f"/v1/declarations/{seeded.surtax_id}").json()
            trail = api.get(f"/v1/declarations/{seeded.surtax_id}/audit").json()
    page = response.text
    assert response.status_code == 200
    assert "93,334.00" in page  # total duty: MFN, surtax, excise and GST
    assert "100.00 CAD per NMB" in page  # a specific rate reads as an amount per unit, not 10000%
    assert "8703.80.00.10" in page
    assert ">surtax<" in page
    for finding in verdict["findings"]:
        assert finding["rule"] in page
        assert finding["reference"].replace("&", "&amp;").replace("'", "&#39;") in page
    assert 'data-testid="verification" data-verified="true"' in page
    # what the total leaves out is on the page as on the verdict (here the luxury tax)
    assert [item["tax"] for item in verdict["not_assessed"]] == ["Luxury tax on subject vehicles"]
    assert 'data-testid="not-assessed"' in page and "Luxury tax on subject vehicles" in page
    assert page.count('class="check check-ok"') == len(trail["events"])
    assert trail["head"][:12] in page


def test_a_changed_audit_event_shows_where_verification_fails(stack: Stack, seeded: Seeded) -> None:
    """Editing one stored audit event makes the page say verification failed at that event."""
    store = stack.store()
    event = json.loads(stored_trail(store, seeded.tamper_id)[2])
    event["data"]["as_of"] = "2020-01-01T00:00:00+00:00"
    change_stored_event(store, seeded.tamper_id, 2, json.dumps(event))
    store.close()
    with signed_in(stack, "auditor") as client:
        page = client.get(f"/dashboard/declarations/{seeded.tamper_id}").text
    assert 'data-verified="false"' in page
    assert "Verification failed at event 3." in page
    assert 'class="check-broken" data-seq="3"' in page


def test_measures_page_lists_the_checks_for_the_date_chosen(stack: Stack) -> None:
    """On 10 March 2026 the EV quota shows the 21-day and Art. XIII:1 warnings, not Art. 5.1."""
    with signed_in(stack, "auditor") as client:
        march = client.get("/dashboard/measures", params={"as_of": "2026-03-10"}).text
        april = client.get("/dashboard/measures", params={"as_of": "2026-04-27"}).text
        bad = client.get("/dashboard/measures", params={"as_of": "10/03/2026"})
    card = march[march.index('data-measure-id="CA-CN-EV-TRQ-2026"') :]
    card = card[: card.index("</article>")]
    assert "WTO-EVTRQ-ILA-1.4A" in card
    assert "WTO-EVTRQ-XIII-1" in card
    assert "WTO-EVTRQ-ILA-5.1" not in card
    assert "WTO-EVTRQ-ILA-5.1" in april
    assert bad.status_code == 200
    assert "is not a date" in bad.text


@pytest.mark.parametrize("page", ["/dashboard", "/dashboard/measures"])
@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01", "1989-12-31", "2201-01-01"])
def test_a_date_at_the_ends_of_the_calendar_is_422_naming_as_of(
    stack: Stack, page: str, as_of: str
) -> None:
    """A page asked for a day outside 1990-2200 answers 422 and says as_of is out of range."""
    with signed_in(stack, "auditor") as client:
        response = client.get(page, params={"as_of": as_of})
    assert response.status_code == 422
    assert "as_of must be between 1990-01-01 and 2200-12-31" in response.text


def test_assets_are_served_by_the_service_and_nothing_comes_from_another_host(
    stack: Stack, seeded: Seeded
) -> None:
    """The stylesheet and icon come from /static; no page loads a resource from elsewhere."""
    css = httpx.get(f"{stack.url}/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert httpx.get(f"{stack.url}/static/accord.svg").status_code == 200
    with signed_in(stack, "auditor") as client:
        pages = [
            client.get(path).text
            for path in (
                "/dashboard",
                "/dashboard/measures",
                f"/dashboard/declarations/{seeded.surtax_id}",
            )
        ]
    pages.append(httpx.get(f"{stack.url}/dashboard/login").text)
    for html in pages:
        parser = Resources()
        parser.feed(html)
        assert parser.urls
        assert all(url.startswith("/static/") for url in parser.urls), parser.urls
    assert "<script" not in "".join(pages)


def test_the_dashboard_stays_out_of_the_api_description(stack: Stack) -> None:
    """/openapi.json documents the API only, not the dashboard pages."""
    paths = httpx.get(f"{stack.url}/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/dashboard", "/static"))]


def test_a_changed_stored_verdict_shows_where_verification_fails(
    stack: Stack, seeded: Seeded
) -> None:
    """Lowering the stored total duty makes the page say verification failed at the verdict event."""
    with signed_in(stack, "auditor") as client:
        before = client.get(f"/dashboard/declarations/{seeded.verdict_tamper_id}").text
    assert 'data-verified="true"' in before
    assert 'data-authenticated="true"' in before
    store = stack.store()
    key = store.key("decl", seeded.verdict_tamper_id)
    record = store.get(seeded.verdict_tamper_id)
    assert record is not None and record.verdict is not None
    verdict = json.loads(record.verdict)
    verdict["total_duty"] = "0.01"
    store.client.hset(key, "verdict", json.dumps(verdict))
    seq = len(stored_trail(store, seeded.verdict_tamper_id))
    store.close()
    with signed_in(stack, "auditor") as client:
        page = client.get(f"/dashboard/declarations/{seeded.verdict_tamper_id}").text
    assert 'data-verified="false"' in page
    assert f"Verification failed at event {seq}." in page
    assert "stored verdict does not match" in page


def test_a_large_declaration_pages_its_lines_and_its_trail(stack: Stack) -> None:
    """A declaration of 120 lines shows 50 lines a page with next and previous links, and
    its trail 50 events a page, verified as a whole; a page past the end shows the last."""
    body = declaration(unique_id("BIG"), lines=[{} for _ in range(120)])
    with stack.client("submitter") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        response = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 30})
        assert response.json()["status"] == "decided"
    path = f"/dashboard/declarations/{body['declaration_id']}"
    with signed_in(stack, "submitter") as client:
        pages = [client.get(path, params={"page": number}).text for number in (1, 2, 3, 99)]
        trail_page = client.get(path, params={"trail_page": 2}).text

    def line_numbers(html: str) -> list[int]:
        return [
            int(n)
            for n in re.findall(
                r'<tr class="line-row">\s*<td class="num" data-label="Line">(\d+)<', html
            )
        ]

    assert line_numbers(pages[0]) == list(range(1, 51))
    assert line_numbers(pages[1]) == list(range(51, 101))
    assert line_numbers(pages[2]) == line_numbers(pages[3]) == list(range(101, 121))
    assert 'data-testid="pager-lines" data-page="1" data-pages="3"' in pages[0]
    assert 'href="?page=2&amp;trail_page=1#lines"' in pages[0]
    assert 'href="?page=1&amp;trail_page=1#lines"' in pages[1]
    assert 'href="?page=3&amp;trail_page=1#lines"' in pages[1]
    assert 'rel="next"' not in pages[2].split('id="lines"')[1].split("</section>")[0]
    events = [int(n) for n in re.findall(r'<tr class="check-verified" data-seq="(\d+)"', pages[0])]
    assert events == list(range(1, 51))
    later = [int(n) for n in re.findall(r'<tr class="check-\w+" data-seq="(\d+)"', trail_page)]
    assert later and later[0] == 51 and len(later) <= 50
    for html in (pages[0], trail_page):
        assert 'data-verified="true"' in html
        assert "all of them, not only this page" in html


def _text(html: str) -> str:
    """A page's text as a reader sees it: tags removed, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_every_amount_shows_its_own_currency(stack: Stack) -> None:
    """A declaration to China's customs shows its duty in CNY in the latest verdicts and on
    its page, beside a Canadian one in CAD; no column heads every row with one currency."""
    cn_line = {"tariff_item": "1205109000", "origin": "CA", "description": "Canola seed",
               "unit": "KGM", "quantity": "2000000", "value_for_duty": "1000000.00"}  # fmt: skip
    chinese = declaration(
        unique_id("CN"), lines=[cn_line], jurisdiction="CN", currency="CNY",
        importer={"business_number": "91370200MA3C4EXX0A", "name": "Qingdao Oilseeds Co."},
        accepted_at="2026-03-05T10:00:00+08:00",
    )  # fmt: skip
    canadian = declaration(unique_id("CA"))
    with stack.client("admin") as client:
        for body in (chinese, canadian):
            assert client.post("/v1/declarations", json=body).status_code == 202
            decided = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 30})
            assert decided.json()["status"] == "decided"
        currency = decided.json()["currency"]
    assert currency == "CAD"
    with signed_in(stack, "admin") as client:
        overview = client.get("/dashboard").text
        page = client.get(f"/dashboard/declarations/{chinese['declaration_id']}").text
    assert "(CAD)" not in overview
    for body, code in ((chinese, "CNY"), (canadian, "CAD")):
        row = overview.split(f'data-declaration-id="{body["declaration_id"]}"', 1)[1]
        row = row.split("</tr>", 1)[0]
        assert re.search(rf"[0-9,]+\.[0-9]{{2}} <span class=\"currency\">{code}</span>", row), row
    text = _text(page)
    assert "CAD" not in text
    assert re.search(r"Total duty ?[0-9,]+\.[0-9]{2} CNY", text)
    assert "1,000,000.00 CNY" in text  # the value for duty, in the declaration's currency


def test_the_dashboards_sentences_read_as_words(stack: Stack, seeded: Seeded) -> None:
    """The trail's verification sentence keeps its spaces ("key. No checkpoint", never
    "key.No"), and a count of tariff items agrees with its noun (1 tariff item)."""
    with signed_in(stack, "auditor") as client:
        page = _text(client.get(f"/dashboard/declarations/{seeded.surtax_id}").text)
        measures = _text(client.get("/dashboard/measures", params={"as_of": "2026-03-10"}).text)
    assert "Head authenticated with the service's key. " in page.replace("&#39;", "'")
    assert not re.search(r"key\.[A-Z]", page)
    counts = re.findall(r"(\d+) tariff (items?)\b", measures)
    assert counts
    assert all((number == "1") == (noun == "item") for number, noun in counts), counts
