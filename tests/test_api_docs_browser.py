"""The API's docs page in Debian's chromium: Swagger UI renders the schema with no request leaving the server."""

from urllib.parse import urlsplit

import pytest

from tests.browser import launch_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium():
    with launch_chromium() as browser:
        yield browser


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
