"""The token never leaves the hooks, whatever a server quotes back and however it spells it.

A hostile server (over loopback) echoes the request's ``Authorization`` header in error
bodies on every status, in success bodies, in redirects and in headers, in every
encoding of :data:`ENCODINGS`; exception text, ``repr``, chained exceptions, returned
values and every log record (DEBUG) are checked. Text that quotes nothing is shown as is.
"""

from __future__ import annotations

import asyncio
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaApiError,
    MetrikaConfigError,
    MetrikaError,
)
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.hooks.redaction import WITHHELD
from tests.adversarial.conftest import CONN_ID, COUNTER, point_at
from tests.adversarial.hostile_server import (
    ENCODINGS,
    ERROR_PLACEMENTS,
    SPELLINGS,
    TOKEN,
    UPLOADING_FIELDS,
    Answer,
    error_answer,
    error_texts,
    success_answer,
    uploading_object,
)

pytestmark = pytest.mark.adversarial

#: Every status a server may fail with: redirects, client errors, quota answers, server errors.
STATUSES = (301, 302, 307, 400, 401, 403, 404, 405, 409, 413, 415, 420, 429, 500, 502, 503, 504)
GET_PATH = f"/management/v1/counter/{COUNTER}/offline_conversions/uploading/7"


def sync_get() -> object:
    return MetrikaHook(CONN_ID).get_uploading("offline_conversions", COUNTER, 7)


def sync_upload(tmp_path) -> object:
    path = tmp_path / "c.csv"
    path.write_text("ClientId,Target,DateTime\n1,paid,1700000000\n")
    return MetrikaHook(CONN_ID).upload_file("offline_conversions", COUNTER, path, log_progress=False)


def async_get() -> object:
    async def run() -> object:
        async with MetrikaAsyncHook(CONN_ID, max_retries=0) as hook:
            return await hook.get_uploading("offline_conversions", COUNTER, 7)

    return asyncio.run(run())


def async_list() -> object:
    async def run() -> object:
        async with MetrikaAsyncHook(CONN_ID, max_retries=0) as hook:
            return await hook.list_uploadings("offline_conversions", COUNTER)

    return asyncio.run(run())


def failure_of(call) -> MetrikaError:
    with pytest.raises(MetrikaError) as info:
        call()
    return info.value


def expose_failure(exposure, call) -> MetrikaError:
    error = failure_of(call)
    exposure.add("the exception and its chain", *error_texts(error))
    return error


CALLS = {
    "sync GET": lambda tmp_path: sync_get,
    "sync upload": lambda tmp_path: functools.partial(sync_upload, tmp_path),
    "async GET": lambda tmp_path: async_get,
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("placement", ERROR_PLACEMENTS)
@pytest.mark.parametrize("status", STATUSES)
def test_json_escaped_token_in_any_error_field_on_any_status(hostile, exposure, tmp_path, call, placement, status):
    hostile.plan = lambda seen: error_answer(status, placement, seen.token, spelling="all escaped")
    error = expose_failure(exposure, CALLS[call](tmp_path))
    assert hostile.seen and hostile.seen[0].token == TOKEN  # the server really had the token to echo
    assert len(hostile.seen) == 1  # no redirect followed, nothing resent
    api_error = next((e for e in (error, error.__cause__) if isinstance(e, MetrikaApiError)), None)
    if api_error is not None and placement not in ("plain text body", "html page"):
        assert api_error.message == WITHHELD


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("placement", ERROR_PLACEMENTS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_token_in_every_encoding_in_error_bodies(hostile, exposure, tmp_path, call, placement, encoding):
    sent = ENCODINGS[encoding](TOKEN)
    exposure.sent.append(sent)
    hostile.plan = lambda seen: error_answer(400, placement, ENCODINGS[encoding](seen.token))
    expose_failure(exposure, CALLS[call](tmp_path))


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("placement", ERROR_PLACEMENTS[:5])
def test_every_json_spelling(hostile, exposure, tmp_path, spelling, placement):
    hostile.plan = lambda seen: error_answer(403, placement, f"OAuth {seen.token}", spelling=spelling)
    expose_failure(exposure, sync_get)
    expose_failure(exposure, async_get)


CASE_CHANGES = {"upper", "lower", "swapcase"}


def readable_chain(chain: list[str]) -> bool:
    """A case change after base64 destroys the encoding (nobody can read it back): not a quote, left out."""
    return not any(
        name in CASE_CHANGES and any(earlier.startswith("base64") for earlier in chain[:index])
        for index, name in enumerate(chain)
    )


encoding_chains = st.lists(st.sampled_from(sorted(ENCODINGS)), min_size=1, max_size=3).filter(readable_chain)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chain=encoding_chains,
    spelling=st.sampled_from(sorted(SPELLINGS)),
    placement=st.sampled_from(ERROR_PLACEMENTS),
    status=st.sampled_from(STATUSES),
)
def test_chained_encodings_never_leak(hostile, caplog, chain, spelling, placement, status):
    from tests.adversarial.conftest import Exposure

    def encode(token: str) -> str:
        for name in chain:
            token = ENCODINGS[name](token)
        return token

    exposure = Exposure(caplog)
    exposure.sent.append(encode(TOKEN))
    hostile.plan = lambda seen: error_answer(status, placement, encode(seen.token), spelling=spelling)
    expose_failure(exposure, sync_get)
    exposure.check()


@pytest.mark.parametrize("field", UPLOADING_FIELDS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_success_bodies_are_withheld_field_by_field(hostile, exposure, field, encoding):
    exposure.sent.append(ENCODINGS[encoding](TOKEN))

    def plan(seen):
        if seen.path.endswith("/uploadings"):
            body = {"uploadings": [uploading_object(7), uploading_object(8)]}
        else:
            body = {"uploading": uploading_object(7)}
        return success_answer(body, field, ENCODINGS[encoding](seen.token), spelling="every other escaped")

    hostile.plan = plan
    uploading = sync_get()
    listed = MetrikaHook(CONN_ID).list_uploadings("offline_conversions", COUNTER)
    from_async = async_list()
    for item in [uploading, *listed, *from_async]:
        exposure.add_json("an uploading's XCom summary", item.to_xcom())
        exposure.add("an uploading", repr(item), item.describe(), repr(dict(item.raw)))
        assert item.raw[field] == WITHHELD
        assert item.uploading_id in ("7", "8")  # the rest of the answer is intact


def test_list_of_pieces_is_withheld_together(hostile, exposure):
    pieces = [TOKEN[i : i + 6] for i in range(0, len(TOKEN), 6)]
    hostile.plan = lambda seen: success_answer({"uploading": uploading_object(7, api_validation_errors=pieces)})
    uploading = sync_get()
    exposure.add(
        "a list of short strings", repr(uploading.raw), "".join(map(str, uploading.raw["api_validation_errors"]))
    )
    assert set(uploading.raw["api_validation_errors"]) == {WITHHELD}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_and_their_location_is_not_shown(hostile, exposure, tmp_path, status):
    def plan(seen):
        location = f"https://evil.example/steal?token={seen.token}&again={TOKEN.encode().hex()}"
        return Answer(status, "", headers={"Location": location}, content_type="text/plain")

    hostile.plan = plan
    for call in (sync_get, async_get, functools.partial(sync_upload, tmp_path)):
        error = expose_failure(exposure, call)
        assert isinstance(error, MetrikaApiError) and error.status == status
    assert len(hostile.seen) == 3


@pytest.mark.parametrize("status", [200, 400, 429, 503])
def test_headers_that_echo_the_token(hostile, exposure, status):
    def plan(seen):
        body = error_answer(status, "errors[].message", "quota").body if status != 200 else '{"uploading": {"id": 7}}'
        headers = {
            "Retry-After": seen.token,
            "WWW-Authenticate": f'OAuth realm="{seen.token}"',
            "X-Echo-Authorization": f"OAuth {seen.token}",
            "Set-Cookie": f"session={seen.token}",
        }
        return Answer(status, body, headers=headers)

    hostile.plan = plan
    for call in (sync_get, async_get):
        if status == 200:
            exposure.add_json("the returned uploading", call().to_xcom())
        else:
            expose_failure(exposure, call)


def test_text_that_quotes_nothing_is_shown_as_is(hostile, exposure, tmp_path):
    """Redaction is not blanket: Metrika's own reasons stay readable."""
    reason = "Counter 12345 has no goal named paid; see the offline conversions guide"
    hostile.plan = lambda seen: error_answer(400, "errors[].message", reason, spelling="all escaped")
    for call in (sync_get, async_get):
        error = expose_failure(exposure, call)
        assert isinstance(error, MetrikaApiError) and error.message == reason and error.error_type == "invalid_token"
    hostile.plan = lambda seen: success_answer({"uploading": uploading_object(7, comment="crm20260101afm0123abc")})
    assert sync_get().comment == "crm20260101afm0123abc"
    exposure.add("a benign answer", reason)


def test_ambiguous_upload_chain_holds_no_quote(hostile, exposure, tmp_path):
    hostile.plan = lambda seen: error_answer(502, "errors[].message", f"upstream said: OAuth {seen.token}")
    error = expose_failure(exposure, functools.partial(sync_upload, tmp_path))
    assert isinstance(error, MetrikaAmbiguousResponseError)
    assert isinstance(error.__cause__, MetrikaApiError) and error.__cause__.message == WITHHELD


def test_test_connection_message(hostile, exposure):
    hostile.plan = lambda seen: error_answer(401, "top-level message", ENCODINGS["percent every byte"](seen.token))
    ok, message = MetrikaHook(CONN_ID).test_connection()
    assert not ok
    exposure.add("test_connection", message)


# -- the token itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["y0_токен0123456789", "y0_AgAA\u2014dash", "y0_\u00e9t\u00e9", "y0_😀emoji"])
def test_token_outside_ascii_is_a_clear_connection_error(hostile, exposure, monkeypatch, token):
    point_at(monkeypatch, hostile.url, token=token)
    for call in (sync_get, async_get):
        with pytest.raises(MetrikaConfigError, match=f"connection '{CONN_ID}'.*non-ASCII") as info:
            call()
        texts = error_texts(info.value)
        exposure.add("the connection error", *texts)
        assert not any(token in text or token[3:] in text for text in texts)
    assert not hostile.seen  # refused before any request


def test_the_token_is_registered_with_the_secrets_masker(hostile, monkeypatch):
    from airflow.providers.common.compat.sdk import redact

    token = "y0_MaskMe" + TOKEN[-20:]
    point_at(monkeypatch, hostile.url, token=token)
    MetrikaHook(CONN_ID).settings  # noqa: B018 - reading the connection registers the token
    assert token not in str(redact(f"header OAuth {token}"))

    other = "y0_AsyncMaskMe" + TOKEN[-20:]
    point_at(monkeypatch, hostile.url, token=other)

    async def read_settings() -> None:
        await MetrikaAsyncHook(CONN_ID).settings()

    asyncio.run(read_settings())
    assert other not in str(redact(f"header OAuth {other}"))
