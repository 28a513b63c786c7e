"""The redactor's verdict cache: a list page repeats its keys and values thousands of times."""

from __future__ import annotations

from airflow_provider_metrika.hooks import redaction
from airflow_provider_metrika.hooks.redaction import Redactor

TOKEN = "y0_AgAAAAB4bW9ja3Rva2VuMTIzNDU2Nzg5"


def test_a_repeated_string_is_decoded_once_and_keeps_its_verdict(mocker):
    redactor = Redactor([TOKEN])
    forms = mocker.spy(redaction, "decoded_forms")
    page = {"uploadings": [{"comment": "monthly export", "status": "PROCESSED", "note": TOKEN}] * 500}
    cleaned = redactor.value(page)
    assert all(item["note"] == redactor.withheld for item in cleaned["uploadings"])
    assert all(item["comment"] == "monthly export" for item in cleaned["uploadings"])
    # each long string once: "monthly export", the token, the key "uploadings" (short ones are never decoded)
    assert sorted(call.args[0] for call in forms.call_args_list) == sorted(["monthly export", TOKEN, "uploadings"])
    normalize = mocker.spy(redaction.unicodedata, "normalize")
    assert redactor.value(page) == cleaned
    assert forms.call_count == 3 and normalize.call_count == 0  # the second page costs a dict lookup per string


def test_short_ascii_text_is_never_decoded_but_short_text_that_folds_is(mocker):
    redactor = Redactor([TOKEN])
    forms = mocker.spy(redaction, "decoded_forms")
    assert not redactor.quotes_secret("PROCESSED")
    assert forms.call_count == 0
    assert redactor.quotes_secret(TOKEN.upper())
    assert redactor.quotes_secret(TOKEN[:12].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}))
