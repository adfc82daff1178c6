"""deployment.md names the failure reasons the metrics really use: no credentials at all is
`missing_credentials`, a malformed Basic header `malformed_credentials` (the docs once said the latter for both)."""

from pathlib import Path

from tests.test_metrics import sample

DEPLOYMENT = (Path(__file__).resolve().parent.parent / "docs" / "deployment.md").read_text()


def _failures(reason: str) -> float:
    return sample("gatehouse_authentication_failures_total", endpoint="token", reason=reason)


def test_a_request_without_credentials_is_counted_as_missing_credentials(oauth):
    before = _failures("missing_credentials")
    assert oauth.post("/oauth/token", {"grant_type": "client_credentials"}).status_code == 401
    assert _failures("missing_credentials") == before + 1
    assert "`missing_credentials` (no credentials at all)" in DEPLOYMENT


def test_a_malformed_basic_header_is_counted_as_malformed_credentials(oauth):
    before = _failures("malformed_credentials")
    response = oauth.post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION="Basic !!!")
    assert response.status_code == 401
    assert _failures("malformed_credentials") == before + 1
    assert "`malformed_credentials` (a malformed Basic header" in DEPLOYMENT
