"""The placeholder for server text that quoted a credential names the vendor's credential; old names still catch."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_metrika import exceptions
from airflow_provider_metrika.commercelayer.hooks import JSON_API, TOKEN_DIALECT
from airflow_provider_metrika.fleetio.hooks import DIALECT as FLEETIO
from airflow_provider_metrika.hooks.metrika_api import DIALECT as METRIKA
from airflow_provider_metrika.hooks.redaction import WITHHELD, withheld
from airflow_provider_metrika.hooks.rest import Dialect, send_json
from airflow_provider_metrika.hooks.retry import RetryPolicy, error_from_response, scrub

SECRET = "cl-secret-0123456789abcdef"


class EchoSession(requests.Session):
    """Answers every request with ``status`` and a body that quotes the secret."""

    def __init__(self, status: int, body: str, raise_error: BaseException | None = None) -> None:
        super().__init__()
        self.status, self.body, self.raise_error = status, body, raise_error

    def request(self, method, url, **kwargs):  # type: ignore[override]
        if self.raise_error is not None:
            raise self.raise_error
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body.encode()
        response.url = url
        return response


def send(dialect: Dialect, session: requests.Session, *, idempotent: bool = True):
    return send_json(
        session,
        dialect,
        RetryPolicy(max_retries=0, service=dialect.service),
        method="POST",
        base_url="https://example.test",
        path="/api/imports",
        timeout=(1, 1),
        sleep=lambda _: None,
        secrets=(SECRET,),
        idempotent=idempotent,
    )


@pytest.mark.parametrize(
    ("dialect", "name"),
    [
        (JSON_API, "client secret or access token"),
        (TOKEN_DIALECT, "client secret or access token"),
        (FLEETIO, "API key or account token"),
    ],
)
def test_a_vendor_error_quoting_the_secret_names_that_vendors_secret(dialect: Dialect, name: str) -> None:
    body = json.dumps({"errors": [{"code": "INVALID", "title": f"bad {SECRET}", "detail": f"bad {SECRET}"}]})
    with pytest.raises(exceptions.ApiClientError) as caught:
        send(dialect, EchoSession(400, body))
    assert SECRET not in str(caught.value)
    assert caught.value.message == withheld(name)
    assert "OAuth" not in str(caught.value)


def test_a_2xx_answer_quoting_the_secret_is_withheld_under_the_vendors_name() -> None:
    answer = send(FLEETIO, EchoSession(200, json.dumps({"note": SECRET})))
    assert answer.body == {"note": withheld("API key or account token")}


def test_a_lost_answer_to_a_write_names_the_vendor() -> None:
    with pytest.raises(exceptions.AmbiguousResponseError) as caught:
        send(JSON_API, EchoSession(0, "", raise_error=requests.ReadTimeout("read timed out")), idempotent=False)
    assert "may have reached Commerce Layer" in str(caught.value) and "Metrika" not in str(caught.value)


def test_metrika_keeps_its_oauth_token_wording_and_a_bare_dialect_says_secret() -> None:
    assert withheld("OAuth token") == WITHHELD
    metrika = error_from_response(
        403,
        json.dumps({"errors": [{"error_type": "x", "message": SECRET}]}),
        method="GET",
        path="/",
        dialect=METRIKA,
        secrets=[SECRET],
    )
    assert metrika.message == WITHHELD
    assert scrub(f"boom {SECRET}", [SECRET], "API key") == withheld("API key")
    bare = Dialect("Acme", JSON_API.error_details)
    with pytest.raises(exceptions.ApiClientError) as caught:
        send(bare, EchoSession(400, json.dumps({"errors": [{"detail": SECRET}]})))
    assert caught.value.message == withheld("secret")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("MetrikaError", "ProviderError"),
        ("MetrikaConfigError", "ProviderConfigError"),
        ("MetrikaValidationError", "InputValidationError"),
        ("MetrikaNoRowsError", "NoRowsError"),
        ("MetrikaApiError", "ApiError"),
        ("MetrikaClientError", "ApiClientError"),
        ("MetrikaRetryableError", "ApiRetryableError"),
        ("MetrikaAmbiguousResponseError", "AmbiguousResponseError"),
        ("MetrikaSearchError", "SentJobSearchError"),
        ("MetrikaSupersededError", "SupersededTryError"),
    ],
)
def test_the_metrika_names_stay_aliases_that_catch_the_new_errors(old: str, new: str) -> None:
    old_class, new_class = getattr(exceptions, old), getattr(exceptions, new)
    assert old_class is new_class and new_class.__name__ == new
    assert issubclass(new_class, exceptions.ProviderError)


def test_the_placeholder_is_not_withheld_again_when_the_secret_resembles_its_name() -> None:
    secret = "my-client-secret-or-access-token-42"
    message = f"ApiClientError: HTTP 401: {withheld('client secret or access token')}"
    assert scrub(message, [secret], "client secret or access token") == message
    assert scrub(f"{message} {secret}", [secret], "client secret or access token") == withheld(
        "client secret or access token"
    )


def test_a_fleetio_row_message_quoting_the_secret_names_fleetios_secret() -> None:
    from airflow_provider_metrika.fleetio.api import row_issue

    issue = row_issue({"row_number": 3, "message": f"bad {SECRET}"}, [SECRET])
    assert issue == f"row 3: {withheld('API key or account token')}"
    assert "OAuth" not in issue


async def test_every_async_hook_bounds_an_attempt_by_one_rule() -> None:
    """The REST base (Commerce Layer, Fleetio) and Metrika's async hook: connect, read, and their sum in all."""
    from airflow_provider_metrika.fleetio.hooks_async import FleetioAsyncHook
    from airflow_provider_metrika.hooks.rest_async import client_timeout

    hook = FleetioAsyncHook("fleetio_unused")
    session = hook._get_session(30.0)
    assert (session.timeout.connect, session.timeout.sock_read, session.timeout.total) == (10.0, 30.0, 40.0)
    await hook.close()

    timeout = client_timeout(30.0)
    assert (timeout.connect, timeout.sock_read, timeout.total) == (10.0, 30.0, 40.0)
    whole = client_timeout(30.0, whole=5.0)
    assert (whole.total, whole.connect, whole.sock_read) == (5.0, 5.0, None)
