"""The final status record of a job, and what each status carries.

Rule: every job answered through its result FIFO ends with exactly one
status record; a stream that ends without one means the daemon went away.
"""

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

from hole.errors import ProtocolError, shorten
from hole.jsonrecord import dump_object, load_object


class Status(enum.Enum):
    """How a job ended. The value is the word on the wire."""

    OK = "ok"
    REJECTED = "rejected"  # a field failed the job map's check: nothing ran
    STEP_FAILED = "step_failed"  # a step exited non-zero or died of a signal
    TIMEOUT = "timeout"  # the job ran past its time and was killed
    BUSY = "busy"  # the daemon was at its job limit or shutting down
    UNKNOWN_JOB = "unknown_job"  # the job map has no such job
    INTERRUPTED = "interrupted"  # the job was stopped before it finished
    INTERNAL_ERROR = "internal_error"  # a fault on the sys side
    BAD_REQUEST = "bad_request"  # the spool files broke the protocol
    TOO_LARGE = "too_large"  # the output passed the job's cap: cut and killed

    @classmethod
    def allowed(cls) -> str:
        """The wire words, for error messages."""
        return ", ".join(s.value for s in cls)


# Detail keys a status may carry, with their JSON types. A record with an
# unknown key, or a known key of the wrong type, is refused: the web side
# renders these, so they must be what it expects.
DETAIL_TYPES: dict[str, type | tuple[type, ...]] = {
    "bytes": int,  # ok, too_large: body bytes sent
    "limit": int,  # busy: job limit; too_large: the cap in bytes
    "field": str,  # rejected: the field refused ("" when not one field)
    "code": str,  # rejected: a machine word for the reason, for translation
    "params": dict,  # rejected: values the reason's words use
    "step": int,  # step_failed, timeout, interrupted: 1-based step number
    "program": str,  # step_failed, timeout: basename of the step's program
    "exit": int,  # step_failed: exit status
    "signal": int,  # step_failed: the signal that killed the step
    "seconds": (int, float),  # timeout: the job's limit
    "job": str,  # unknown_job: the name asked for
}


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """A job's last word: its status, a message in English, and details."""

    status: Status
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"status": self.status.value, "message": self.message}
        for key, value in self.details.items():
            _check_detail(key, value)
            body[key] = value
        return dump_object(body, "status record")

    @classmethod
    def from_json(cls, raw_record: bytes) -> "StatusRecord":
        body = load_object(raw_record, "status record")
        word = body.pop("status", None)
        try:
            status = Status(word)
        except ValueError:
            raise ProtocolError(f"unknown status {shorten(str(word))}; expected one of {Status.allowed()}") from None
        message = body.pop("message", "")
        if not isinstance(message, str):
            raise ProtocolError("status message is not a string")
        for key, value in body.items():
            _check_detail(key, value)
        return cls(status, message, body)


def _check_detail(key: str, value: Any) -> None:
    expected = DETAIL_TYPES.get(key)
    if expected is None:
        raise ProtocolError(f"unknown status detail {shorten(key)}")
    # bool is an int in Python but not a count on the wire.
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ProtocolError(f"status detail {key!r} has the wrong type: {shorten(repr(value))}")


def parse_status(raw_record: bytes) -> StatusRecord:
    """StatusRecord.from_json with the checks remembered; the caller gets details of its own to change."""
    checked = _checked_status(raw_record)
    return StatusRecord(checked.status, checked.message, _copied(checked.details))


@functools.lru_cache(maxsize=128)
def _checked_status(raw_record: bytes) -> StatusRecord:
    # Most records repeat ({"status":"ok","message":"","bytes":1234} for a
    # report whose size does not change); one that fails raises each time.
    return StatusRecord.from_json(raw_record)


def _copied(value: Any) -> Any:
    """A copy of decoded JSON: new dicts and lists all the way down, the same immutable leaves."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value
