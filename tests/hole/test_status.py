"""The status record: a job's last word, in strict JSON."""

from typing import Any

import pytest

from hole import ProtocolError, Status, StatusRecord
from hole.status import DETAIL_TYPES, parse_status

# What the daemon sends with each status (PROTOCOL.md's table).
TYPICAL: dict[Status, dict[str, Any]] = {
    Status.OK: {"bytes": 31},
    Status.REJECTED: {"field": "year", "code": "too_large", "params": {"max": 2100, "unit": "year"}},
    Status.STEP_FAILED: {"step": 2, "program": "authorize", "exit": 3},
    Status.TIMEOUT: {"step": 3, "program": "budget_12", "seconds": 2.5},
    Status.BUSY: {"limit": 8},
    Status.UNKNOWN_JOB: {"job": "b13"},
    Status.INTERRUPTED: {"step": 1},
    Status.INTERNAL_ERROR: {},
    Status.BAD_REQUEST: {},
    Status.TOO_LARGE: {"bytes": 1024, "limit": 1024},
}


def test_every_status_has_a_typical_record() -> None:
    assert set(TYPICAL) == set(Status)
    assert {key for details in TYPICAL.values() for key in details} <= set(DETAIL_TYPES)


@pytest.mark.parametrize("status", list(Status))
def test_round_trip(status: Status) -> None:
    record = StatusRecord(status, f"the job ended: {status.value}", TYPICAL[status])
    assert StatusRecord.from_json(record.to_json()) == record


def test_json_is_compact_ascii() -> None:
    record = StatusRecord(Status.STEP_FAILED, "Zoë failed", {"step": 1, "signal": 9})
    assert record.to_json() == b'{"status":"step_failed","message":"Zo\\u00eb failed","step":1,"signal":9}'


def test_ok_property() -> None:
    assert StatusRecord(Status.OK).ok
    assert not StatusRecord(Status.TOO_LARGE).ok


def test_status_words() -> None:
    assert Status.allowed() == (
        "ok, rejected, step_failed, timeout, busy, unknown_job, interrupted, internal_error, bad_request, too_large"
    )


def test_missing_message_is_empty_and_whitespace_is_accepted() -> None:
    record = StatusRecord.from_json(b' {\n "status" : "busy" ,"limit":2}\t')
    assert record == StatusRecord(Status.BUSY, "", {"limit": 2})


def test_non_ascii_utf8_and_surrogate_pairs_are_accepted() -> None:
    record = StatusRecord.from_json('{"status":"ok","message":"Zoë \\ud83d\\ude00"}'.encode())
    assert record.message == "Zoë \U0001f600"


def test_int_is_a_number_for_seconds() -> None:
    assert StatusRecord.from_json(b'{"status":"timeout","seconds":30}').details == {"seconds": 30}


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"colour": "red"}, "unknown status detail 'colour'"),
        ({"status": "ok"}, "unknown status detail 'status'"),
        ({"bytes": True}, "status detail 'bytes' has the wrong type: 'True'"),
        ({"bytes": 1.0}, "status detail 'bytes' has the wrong type"),
        ({"bytes": "1"}, "status detail 'bytes' has the wrong type"),
        ({"seconds": False}, "status detail 'seconds' has the wrong type"),
        ({"params": []}, "status detail 'params' has the wrong type"),
        ({"field": None}, "status detail 'field' has the wrong type"),
        ({"seconds": float("nan")}, "cannot be sent as JSON"),
        ({"seconds": float("inf")}, "cannot be sent as JSON"),
        ({"params": {"when": object()}}, "cannot be sent as JSON"),
        ({"params": {"x": float("nan")}}, "cannot be sent as JSON"),
        ({"job": "\udcff"}, "lone surrogate"),
        ({"params": {"x": ["\ud800"]}}, "lone surrogate"),
        # json turns the key 1 into "1": the record would hold it twice.
        ({"params": {1: "a", "1": "b"}}, "has the key '1' twice"),
        ({"params": {"x": [{1: "a", "1": "b"}]}}, "has the key '1' twice"),
    ],
)
def test_to_json_refuses(details: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        StatusRecord(Status.OK, "", details).to_json()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "status record is not JSON"),
        (b"ok", "status record is not JSON"),
        (b'{"status":"ok"', "status record is not JSON"),
        (b'{"status":"ok"} {}', "status record is not JSON"),
        (b"\xff", "status record is not JSON"),
        (b'\xef\xbb\xbf{"status":"ok"}', "status record is not JSON"),
        ('{"status":"ok"}'.encode("utf-16"), "status record is not JSON"),
        ('{"status":"ok"}'.encode("utf-32-le"), "status record is not JSON"),
        (b'{"status":"ok","message":"\xc3"}', "status record is not JSON"),
        (b'{"status":"ok","seconds":NaN}', "NaN is not a JSON number"),
        (b'{"status":"ok","seconds":Infinity}', "Infinity is not a JSON number"),
        (b'{"status":"ok","seconds":-Infinity}', "-Infinity is not a JSON number"),
        (b'{"status":"ok","seconds":1e999}', "number too large for a double"),
        (b'{"status":"ok","params":{"x":-1e400}}', "number too large for a double"),
        (b'{"status":"ok","exit":1' + b"0" * 5000 + b"}", "status record is not JSON"),
        (b'{"status":"ok","status":"busy"}', "status record has the key 'status' twice"),
        (b'{"status":"rejected","params":{"a":1,"a":2}}', "has the key 'a' twice"),
        (b'{"status":"ok","message":"\\ud800"}', "lone surrogate"),
        (b'{"status":"ok","params":{"\\udfff":1}}', "lone surrogate"),
        (b'{"status":"ok","message":"\\uDBFF"}', "lone surrogate"),
        (b'{"status":"ok","message":"a\\uDc00b"}', "lone surrogate"),
        (b'{"status":"ok","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "status record is not JSON"),
        (b"[]", "status record is not an object"),
        (b'"ok"', "status record is not an object"),
        (b"null", "status record is not an object"),
        (b"{}", "unknown status 'None'"),
        (b'{"status":"OK"}', "unknown status 'OK'; expected one of ok, rejected"),
        (b'{"status":"fine"}', "unknown status 'fine'"),
        (b'{"status":1}', "unknown status '1'"),
        (b'{"status":["ok"]}', "unknown status"),
        (b'{"status":{"ok":1}}', "unknown status"),
        (b'{"status":"ok","message":null}', "status message is not a string"),
        (b'{"status":"ok","message":["x"]}', "status message is not a string"),
        (b'{"status":"ok","colour":"red"}', "unknown status detail 'colour'"),
        (b'{"status":"ok","bytes":true}', "status detail 'bytes' has the wrong type: 'True'"),
        (b'{"status":"step_failed","exit":false}', "status detail 'exit' has the wrong type"),
        (b'{"status":"step_failed","exit":1.0}', "status detail 'exit' has the wrong type"),
        (b'{"status":"step_failed","exit":"1"}', "status detail 'exit' has the wrong type"),
        (b'{"status":"timeout","seconds":true}', "status detail 'seconds' has the wrong type"),
        (b'{"status":"timeout","seconds":"30"}', "status detail 'seconds' has the wrong type"),
        (b'{"status":"rejected","params":[1]}', "status detail 'params' has the wrong type"),
        (b'{"status":"rejected","field":null}', "status detail 'field' has the wrong type"),
    ],
)
def test_from_json_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        StatusRecord.from_json(raw)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 400


def test_parsed_status_is_checked_once_but_each_caller_owns_its_details() -> None:
    raw = StatusRecord(Status.REJECTED, "no", TYPICAL[Status.REJECTED]).to_json()
    first = parse_status(raw)
    first.details["params"]["max"] = 1
    first.details["extra"] = True
    second = parse_status(raw)
    assert second == StatusRecord(Status.REJECTED, "no", TYPICAL[Status.REJECTED])
    assert second.details is not first.details


def test_a_bad_status_record_fails_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ProtocolError, match="unknown status"):
            parse_status(b'{"status":"fine","message":""}')
