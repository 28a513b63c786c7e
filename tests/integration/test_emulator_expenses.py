"""The emulator's expense endpoints: checks, lifecycle, one list for uploads and deletions, the ledger."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.emulator.expenses import ExpenseBatch, ledger

pytestmark = pytest.mark.integration
BASE = "/management/v1/counter/{counter_id}/expense"
STAGE = 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("UTMSource,Expenses\ng,1\n", "no Date column"),
        ("Date,UTMSource\n2026-11-20,g\n", "no Expenses column"),
        ("Date,Expenses\n2026-11-20,1\n", "UTMSource or a TrafficSource"),
        ("Date,UTMSource,Expenses\n20.11.2026,g,1\n", "row 1: Date '20.11.2026'"),
        ('Date,UTMSource,Expenses\n2026-11-20,g,"1,5"\n', "Expenses '1,5'"),
        ("Date,UTMSource,Expenses\n2026-11-20,,1\n", "must be filled"),
        ("Date,UTMSource,Expenses,Clicks\n2026-11-20,g,1,x\n", "Clicks 'x'"),
        ("Date,UTMSource,Expenses,Currency\n2026-11-20,g,1,rub\n", "Currency 'rub'"),
    ],
)
def test_bad_expense_files_are_refused(metrika_api, emulator, body, message):
    response = metrika_api.upload(BASE + "/upload", body)
    assert response.status_code == 400 and message in response.json()["message"]
    assert emulator.uploadings() == []


def test_a_deletion_file_needs_a_date(metrika_api):
    response = metrika_api.upload(BASE + "/delete", "UTMSource\ngoogle\n")
    assert response.status_code == 400 and "no Date column" in response.json()["message"]


def test_uploads_and_deletions_share_one_list_and_a_lifecycle(metrika_api, emulator):
    up = metrika_api.upload(BASE + "/upload", "date,utmsource,expenses\n2026-11-20,g,1\n", params={"comment": "a"})
    assert up.status_code == 200
    first = up.json()["uploading"]
    assert (first["type"], first["status"], first["provider"], first["source_quantity"]) == (
        "EXPENSES",
        "UPLOADED",
        "default",
        1,
    )
    gone = metrika_api.upload(BASE + "/delete", "Date\n2026-11-20\n", params={"provider": "crm"}).json()["uploading"]
    assert gone["type"] == "REMOVES" and gone["provider"] == "crm"
    listed = metrika_api.get(BASE + "/uploadings").json()["uploadings"]
    assert [item["id"] for item in listed] == [gone["id"], first["id"]]
    emulator.advance(STAGE)
    assert metrika_api.get(BASE + f"/uploading/{first['id']}").json()["uploading"]["status"] == "IN_PROGRESS"
    assert emulator.expenses(12345) == []  # nothing counts before it is processed
    emulator.advance(STAGE)
    assert metrika_api.get(BASE + f"/uploading/{first['id']}").json()["uploading"]["status"] == "PROCESSED"
    assert len(emulator.expenses(12345)) == 1  # the deletion was of another provider
    assert metrika_api.get(BASE + "/uploading/999").status_code == 404


def test_a_deletion_matches_the_tags_it_fills(metrika_api, emulator):
    body = "Date,UTMSource,UTMCampaign,Expenses\n2026-11-20,google,a,1\n2026-11-20,google,b,2\n2026-11-21,vk,a,3\n"
    metrika_api.upload(BASE + "/upload", body)
    metrika_api.upload(BASE + "/delete", "Date,UTMCampaign\n2026-11-01/2026-11-30,a\n")
    emulator.finish_all()
    assert [(row["utmcampaign"], row["expenses"]) for row in emulator.expenses(12345)] == [("b", "2")]


def test_the_ledger_keeps_ranges_that_stick_out_of_a_deletion():
    upload = ExpenseBatch(1, "EXPENSES", None, ({"date": "2026-11-01/2026-11-30", "expenses": "9"},))
    deletion = ExpenseBatch(2, "REMOVES", None, ({"date": "2026-11-20"},))
    assert [row["expenses"] for row in ledger([upload, deletion])] == ["9"]
    whole = ExpenseBatch(3, "REMOVES", None, ({"date": "2026-10-01/2026-12-31"},))
    assert ledger([upload, whole]) == []


def test_the_ledger_endpoint_needs_a_counter(emulator):
    with pytest.raises(Exception, match="400"):
        emulator._call("GET", "expenses")
