"""The request line: one line per job on the daemon FIFO.

Grammar (ABNF, RFC 5234):

    request-line = "HOLE/1" SP job-name SP job-id LF
    job-name     = %x61-7A *62( %x61-7A / DIGIT / "_" )   ; a-z first
    job-id       = 32( DIGIT / %x61-66 )                   ; lower-case hex

The whole line, LF included, is at most PIPE_BUF bytes so it is written
atomically. The version comes first so a daemon can refuse a client it does
not understand instead of guessing.
"""

import re
from dataclasses import dataclass

from hole.errors import ProtocolError, shorten
from hole.limits import MAX_REQUEST_LINE

VERSION = b"HOLE/1"

JOB_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
_LINE_RE = re.compile(rb"HOLE/1 ([a-z][a-z0-9_]{0,62}) ([0-9a-f]{32})")


@dataclass(frozen=True, slots=True)
class Request:
    """One job asked for: which job-map entry, in which spool directory."""

    job: str
    job_id: str


def encode_request(request: Request) -> bytes:
    """Return the request line, LF included; raise ProtocolError if invalid."""
    if not JOB_NAME_RE.fullmatch(request.job):
        raise ProtocolError(f"invalid job name: {shorten(request.job)}")
    if not JOB_ID_RE.fullmatch(request.job_id):
        raise ProtocolError(f"invalid job id: {shorten(request.job_id)}")
    return b"%s %s %s\n" % (VERSION, request.job.encode(), request.job_id.encode())


def decode_request(raw_line: bytes) -> Request:
    """Parse one request line, with or without its LF."""
    if len(raw_line) > MAX_REQUEST_LINE:
        raise ProtocolError(f"request line over {MAX_REQUEST_LINE} bytes: {shorten(raw_line)}")
    line = raw_line[:-1] if raw_line.endswith(b"\n") else raw_line
    match = _LINE_RE.fullmatch(line)
    if match is None:
        if not line.startswith(VERSION + b" "):
            raise ProtocolError(f"request line is not {VERSION.decode()}: {shorten(line)}")
        raise ProtocolError(f"malformed request line: {shorten(line)}")
    return Request(job=match[1].decode(), job_id=match[2].decode())
