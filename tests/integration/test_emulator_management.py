"""The emulator's management API over real sockets: counter, offline conversions, calls, user params."""

from __future__ import annotations

import hashlib

import pytest

pytestmark = pytest.mark.integration

BASE = "/management/v1/counter/{counter_id}"
UPLOAD = BASE + "/offline_conversions/upload"
UPLOADINGS = BASE + "/offline_conversions/uploadings"
UPLOADING = BASE + "/offline_conversions/uploading/{id}"
CALLS_UPLOAD = BASE + "/offline_conversions/upload_calls"
CALLS_UPLOADING = BASE + "/offline_conversions/calls_uploading/{id}"
CALLS_UPLOADINGS = BASE + "/offline_conversions/calls_uploadings"
PARAMS_UPLOAD = BASE + "/user_params/uploadings/upload"
PARAMS_UPLOADING = BASE + "/user_params/uploading/{id}"
PARAMS_CONFIRM = BASE + "/user_params/uploading/{id}/confirm"
PARAMS_UPLOADINGS = BASE + "/user_params/uploadings"
STAGE = 60


def known(prefix: str = "visitor") -> str:
    """A visitor id the emulator's sha1 rule links."""
    return next(f"{prefix}{n}" for n in range(1000) if hashlib.sha1(f"{prefix}{n}".encode()).digest()[0] < 230)


def conversions_csv(now: float, ids: list[str], header: str = "ClientId,Target,DateTime,Price,Currency") -> str:
    rows = [f"{visitor},order_paid,{int(now) - 3600 + n},1500.00,RUB" for n, visitor in enumerate(ids)]
    return header + "\n" + "\n".join(rows) + "\n"


def at(path: str, uploading_id: int | str) -> str:
    return path.replace("{id}", str(uploading_id))


def error_of(response) -> tuple[int, str]:
    body = response.json()
    assert body["code"] == response.status_code
    assert body["message"] == body["errors"][0]["message"]
    return response.status_code, body["errors"][0]["error_type"]


def test_counter(metrika_api):
    response = metrika_api.get(BASE)
    assert response.status_code == 200
    assert response.json() == {
        "counter": {
            "id": 12345,
            "name": "Emulated counter 12345",
            "time_zone_name": "Europe/Moscow",
            "status": "Active",
        }
    }


@pytest.mark.parametrize("counter", ["0", "-5", "abc"])
def test_counter_id_must_be_positive_int(metrika_api, counter):
    assert error_of(metrika_api.get(f"/management/v1/counter/{counter}")) == (400, "invalid_parameter")


def test_upload_offline_conversions_shape(metrika_api, emulator):
    now = emulator.now()
    response = metrika_api.upload(UPLOAD, conversions_csv(now, [known(), "unknown-1"]), params={"comment": "Загрузка1"})
    assert response.status_code == 200, response.text
    uploading = response.json()["uploading"]
    assert uploading == {
        "id": uploading["id"],
        "create_time": uploading["create_time"],
        "source_quantity": 2,
        "line_quantity": 2,
        "comment": "Загрузка1",
        "type": "BASIC",
        "client_id_type": "CLIENT_ID",
        "status": "UPLOADED",
        "linked_quantity": 0,
        "goal_not_found_quantity": 0,
        "user_not_found_quantity": 0,
    }
    assert isinstance(uploading["id"], int)
    assert uploading["create_time"].endswith("Z") and len(uploading["create_time"]) == 20


def test_ids_increase_and_list_is_newest_first(metrika_api, emulator):
    now = emulator.now()
    ids = [metrika_api.upload(UPLOAD, conversions_csv(now, [known()])).json()["uploading"]["id"] for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    listed = metrika_api.get(UPLOADINGS).json()["uploadings"]
    assert [u["id"] for u in listed] == ids[::-1]
    page = metrika_api.get(UPLOADINGS, params={"limit": 1, "offset": 1}).json()["uploadings"]
    assert [u["id"] for u in page] == [ids[1]]


def test_list_filters_by_type_and_rejects_bad_paging(metrika_api, emulator):
    now = emulator.now()
    metrika_api.upload(UPLOAD, conversions_csv(now, [known()]))
    calls = f"ClientId,DateTime\n{known()},{int(now) - 10}\n"
    assert metrika_api.upload(UPLOAD, calls, params={"type": "CALLS"}).json()["uploading"]["type"] == "CALLS"
    assert [u["type"] for u in metrika_api.get(UPLOADINGS, params={"type": "CALLS"}).json()["uploadings"]] == ["CALLS"]
    assert len(metrika_api.get(UPLOADINGS).json()["uploadings"]) == 2
    assert error_of(metrika_api.get(UPLOADINGS, params={"limit": "ten"})) == (400, "invalid_parameter")
    assert error_of(metrika_api.get(UPLOADINGS, params={"offset": "-1"})) == (400, "invalid_parameter")
    assert error_of(metrika_api.get(UPLOADINGS, params={"type": "FAX"})) == (400, "invalid_parameter")


@pytest.mark.parametrize(
    ("first_status", "expected"),
    [
        (None, ["UPLOADED", "UPLOADED", "EXPORTED", "MATCHED", "PROCESSED"]),
        ("PREPARED", ["PREPARED", "UPLOADED", "EXPORTED", "MATCHED", "PROCESSED"]),
    ],
)
def test_status_lifecycle_follows_the_clock(metrika_api, emulator, first_status, expected):
    emulator.configure(stage_seconds=STAGE, **({"first_status": first_status} if first_status else {}))
    uploading = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known(), "unknown-x"])).json()["uploading"]
    seen = [uploading["status"]]
    for _ in range(4):
        emulator.advance(STAGE)
        body = metrika_api.get(at(UPLOADING, uploading["id"])).json()["uploading"]
        seen.append(body["status"])
    assert seen == expected
    assert body["linked_quantity"] == 1
    assert body["user_not_found_quantity"] == 1
    assert body["goal_not_found_quantity"] == 0


def test_linkage_failure_when_no_visitor_is_known(metrika_api, emulator):
    uploading = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), ["unknown-a", "UNKNOWN-b"])).json()
    emulator.finish_all()
    body = metrika_api.get(at(UPLOADING, uploading["uploading"]["id"])).json()["uploading"]
    assert body["status"] == "LINKAGE_FAILURE"
    assert (body["linked_quantity"], body["user_not_found_quantity"]) == (0, 2)


def test_registered_visitors_always_link(metrika_api, emulator):
    emulator.add_visitors(["unknown-but-registered"])
    uploading = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), ["unknown-but-registered"])).json()
    emulator.finish_all()
    assert metrika_api.get(at(UPLOADING, uploading["uploading"]["id"])).json()["uploading"]["status"] == "PROCESSED"


def test_rows_without_any_id_count_as_user_not_found(metrika_api, emulator):
    now = int(emulator.now())
    content = f"UserId,Yclid,Target,DateTime\n,,goal,{now - 5}\n{known('u')},,goal,{now - 5}\n"
    uploading = metrika_api.upload(UPLOAD, content).json()["uploading"]
    assert uploading["client_id_type"] == "USER_ID"
    emulator.finish_all()
    body = metrika_api.get(at(UPLOADING, uploading["id"])).json()["uploading"]
    assert (body["linked_quantity"], body["user_not_found_quantity"]) == (1, 1)


def test_quoted_fields_and_crlf_are_parsed(metrika_api, emulator):
    now = int(emulator.now())
    content = f'ClientId,Target,DateTime\r\n"{known()}","goal, with comma",{now - 1}\r\n\r\n"x""y",g,{now - 2}\r\n'
    uploading = metrika_api.upload(UPLOAD, content).json()["uploading"]
    assert uploading["source_quantity"] == 2


def test_legacy_client_id_type_is_tolerated(metrika_api, emulator):
    response = metrika_api.upload(
        UPLOAD, conversions_csv(emulator.now(), [known()]), params={"client_id_type": "USER_ID"}
    )
    assert response.status_code == 200
    assert response.json()["uploading"]["client_id_type"] == "CLIENT_ID"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"ClientId,Target,DateTime\n1,goal,\xff\xfe\n", "UTF-8"),
        (b"\n\n", "no header"),
        (b"123,goal,1700000000\n", "no header"),
        (b"ClientId,DateTime\n1,1700000000\n", "no Target column"),
        (b"ClientId,Target\n1,goal\n", "no DateTime column"),
        (b"Target,DateTime,Price\ngoal,1700000000,1\n", "no visitor id column"),
        (b"ClientId,Target,DateTime\n1,goal,2024-01-01\n", "row 1: DateTime '2024-01-01' is not a unix timestamp"),
        (b"ClientId,Target,DateTime\n1,goal,1700000000\n2,goal\n", "row 2: DateTime '' is not"),
        (
            b"ClientId,Target,DateTime\n1,goal,1700000000\n2,goal,4102444800\n",
            "row 2: DateTime 4102444800 is in the future",
        ),
        (b"ClientId,Target,DateTime\n1,goal,1700000000000\n", "milliseconds"),
        (b"ClientId,Target,DateTime\n1,goal,1700000000\n", None),
    ],
    ids=[
        "empty",
        "utf8",
        "blank",
        "no-header",
        "no-target",
        "no-datetime",
        "no-id",
        "iso-date",
        "short-row",
        "future",
        "millis",
        "valid",
    ],
)
def test_bad_files_are_rejected(metrika_api, content, expected):
    response = metrika_api.upload(UPLOAD, content)
    if expected is None:
        assert response.status_code == 200
        return
    assert error_of(response) == (400, "invalid_uploading")
    assert expected in response.json()["message"]


def test_future_check_sees_many_chunks(metrika_api, emulator):
    now = int(emulator.now())
    rows = "".join(f"{n},goal,{now - 100}\n" for n in range(150_000))
    content = "ClientId,Target,DateTime\n" + rows + f"x,goal,{now + 86400}\n"
    response = metrika_api.upload(UPLOAD, content)
    assert error_of(response) == (400, "invalid_uploading")
    assert "row 150001:" in response.json()["message"]
    ok = metrika_api.upload(UPLOAD, "ClientId,Target,DateTime\n" + rows)
    assert ok.json()["uploading"]["source_quantity"] == 150_000


def test_file_part_is_required(metrika_api):
    assert error_of(metrika_api.post(UPLOAD, files={"other": ("a.csv", b"x")})) == (400, "missing_parameter")
    assert error_of(metrika_api.post(UPLOAD, data=b"ClientId")) == (400, "missing_parameter")


@pytest.mark.parametrize("comment", ["fingerprint:abc", "a.b", "emoji 🙂", "Upload by rym at 2024-01-01 10:00:00"])
def test_comments_real_clients_send_are_accepted_by_default(metrika_api, emulator, comment):
    response = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known()]), params={"comment": comment})
    assert response.json()["uploading"]["comment"] == comment


def test_too_long_comment_is_rejected(metrika_api, emulator):
    response = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known()]), params={"comment": "x" * 256})
    assert error_of(response) == (400, "invalid_parameter")


def test_allowed_comment_characters(metrika_api, emulator):
    comment = "Ёжикrun42x" + "y" * 245
    response = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known()]), params={"comment": comment})
    assert response.json()["uploading"]["comment"] == comment


@pytest.mark.parametrize("comment", ["crm 1", "crm_1", "crm-1"])
def test_seed_comment_rule_refuses_anything_but_letters_and_digits(metrika_api, emulator, comment):
    """``comment_chars=seed``: the documented rule, digits, Latin and Cyrillic letters only."""
    emulator.configure(comment_chars="seed")
    response = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known()]), params={"comment": comment})
    assert error_of(response) == (400, "invalid_parameter")
    params = metrika_api.upload(PARAMS_UPLOAD, "ClientId,p\n1,2\n", params={"action": "update", "comment": comment})
    assert error_of(params) == (400, "invalid_parameter")


def test_calls_comment_has_no_character_rule_even_under_seed(metrika_api, emulator):
    emulator.configure(comment_chars="seed")
    content = f"ClientId,DateTime\n{known()},{int(emulator.now()) - 9}\n"
    response = metrika_api.upload(CALLS_UPLOAD, content, params={"comment": "calls.csv"})
    assert response.json()["uploading"]["comment"] == "calls.csv"


def test_unknown_uploading_and_bad_id(metrika_api):
    assert error_of(metrika_api.get(at(UPLOADING, 987654321))) == (404, "not_found")
    assert error_of(metrika_api.get(at(UPLOADING, "abc"))) == (400, "invalid_parameter")


def test_uploading_belongs_to_its_counter(metrika_api, emulator):
    uploading = metrika_api.upload(UPLOAD, conversions_csv(emulator.now(), [known()])).json()["uploading"]
    other = "/management/v1/counter/777/offline_conversions/uploading/" + str(uploading["id"])
    assert error_of(metrika_api.get(other)) == (404, "not_found")


def test_calls_upload_lifecycle_and_counters(metrika_api, emulator):
    now = int(emulator.now())
    content = f"ClientId,DateTime,StaticCall,PhoneNumber\n{known()},{now - 9},0,+70123456789\nabc,{now - 8},1,+7012\n"
    response = metrika_api.upload(CALLS_UPLOAD, content, params={"comment": "calls", "new_goal_name": "Звонок"})
    uploading = response.json()["uploading"]
    assert uploading["type"] == "CALLS" and uploading["status"] == "UPLOADED"
    assert uploading["static_calls_quantity"] == 0 and uploading["dynamic_calls_quantity"] == 0
    assert metrika_api.get(at(UPLOADING, uploading["id"])).status_code == 404
    emulator.finish_all()
    body = metrika_api.get(at(CALLS_UPLOADING, uploading["id"])).json()["uploading"]
    assert body["status"] == "PROCESSED"
    assert (body["static_calls_quantity"], body["dynamic_calls_quantity"], body["linked_quantity"]) == (1, 1, 1)
    assert [u["id"] for u in metrika_api.get(CALLS_UPLOADINGS).json()["uploadings"]] == [uploading["id"]]


def test_all_static_calls_never_link(metrika_api, emulator):
    now = int(emulator.now())
    content = f"ClientId,DateTime,StaticCall\n{known()},{now - 9},1\n"
    uploading = metrika_api.upload(CALLS_UPLOAD, content).json()["uploading"]
    emulator.finish_all()
    assert metrika_api.get(at(CALLS_UPLOADING, uploading["id"])).json()["uploading"]["status"] == "LINKAGE_FAILURE"


def test_calls_need_datetime_but_no_target(metrika_api):
    assert error_of(metrika_api.upload(CALLS_UPLOAD, "ClientId,StaticCall\n1,0\n")) == (400, "invalid_uploading")


def test_user_params_confirm_flow(metrika_api, emulator):
    content = f"ClientId,tier,city\n{known()},gold,Moscow\nunknown-2,silver,Kazan\n"
    response = metrika_api.upload(PARAMS_UPLOAD, content, params={"action": "update"})
    uploading = response.json()["uploading"]
    assert uploading == {
        "id": uploading["id"],
        "create_time": uploading["create_time"],
        "line_quantity": 2,
        "linked_quantity": 0,
        "linked_percentage": "0.00",
        "comment": "",
        "content_id_type": "client_id",
        "action": "update",
        "status": "uploaded",
    }
    emulator.finish_all()
    assert metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]["status"] == "uploaded"
    confirmed = metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]), json={"uploading": uploading}).json()
    assert confirmed["uploading"]["status"] == "is_processed"
    emulator.advance(STAGE)
    body = metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]
    assert (body["status"], body["linked_quantity"], body["linked_percentage"]) == ("processed", 1, "50.00")
    assert [u["id"] for u in metrika_api.get(PARAMS_UPLOADINGS).json()["uploadings"]] == [uploading["id"]]


def test_user_params_linkage_failure_and_double_confirm(metrika_api, emulator):
    content = "userid,param\nunknown-1,1\n"
    uploading = metrika_api.upload(PARAMS_UPLOAD, content, params={"action": "delete_keys"}).json()["uploading"]
    assert uploading["content_id_type"] == "user_id"
    assert metrika_api.post(at(PARAMS_CONFIRM, uploading["id"])).status_code == 200
    assert error_of(metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]))) == (400, "invalid_parameter")
    emulator.finish_all()
    assert metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]["status"] == "linkage_failure"
    assert error_of(metrika_api.post(at(PARAMS_CONFIRM, 99999999))) == (404, "not_found")


@pytest.mark.parametrize(
    ("params", "content", "expected"),
    [
        ({}, "ClientId,p\n1,2\n", (400, "missing_parameter")),
        ({"action": "replace"}, "ClientId,p\n1,2\n", (400, "invalid_parameter")),
        ({"action": "update"}, "Email,p\na@b.c,2\n", (400, "invalid_uploading")),
        ({"action": "update"}, "ClientId\n1\n", (400, "invalid_uploading")),
    ],
    ids=["no-action", "bad-action", "no-id-column", "no-param-column"],
)
def test_user_params_rejections(metrika_api, params, content, expected):
    assert error_of(metrika_api.upload(PARAMS_UPLOAD, content, params=params)) == expected
