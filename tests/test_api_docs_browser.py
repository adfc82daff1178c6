"""The API's docs page in Debian's chromium: Swagger UI renders the schema with no request leaving the server."""

import os
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("GATEHOUSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and GATEHOUSE_REQUIRE_BROWSER=1 (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def test_the_docs_page_renders_every_operation_from_local_assets(chromium, live_server, transactional_db):
    ours = urlsplit(live_server.url).netloc
    elsewhere = []
    page = chromium.new_page()
    page.set_default_timeout(15_000)

    def only_ours(route):
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=Register a client")
    for summary in ("Rotate a client's secret", "Delete a scope", "List audit events, newest first"):
        assert page.locator(f"text={summary}").count() >= 1
    assert elsewhere == []
