"""The hole's wire protocol: what crosses the jail wall, and nothing else.

This package does no IO and imports only the standard library, so both
sides (the jailed web side and the sys-side daemon) can share it. It takes
bytes in and returns frozen dataclasses; the pipes belong to the callers.
See PROTOCOL.md beside this file for the byte-level description.
"""

from hole.errors import ProtocolError
from hole.framing import Data, ResultDecoder, encode_chunk, encode_meta, encode_status
from hole.inputfile import decode_input, encode_input
from hole.meta import Meta
from hole.request import Request, decode_request, encode_request
from hole.status import Status, StatusRecord

__all__ = [
    "Data",
    "Meta",
    "ProtocolError",
    "Request",
    "ResultDecoder",
    "Status",
    "StatusRecord",
    "decode_input",
    "decode_request",
    "encode_chunk",
    "encode_input",
    "encode_meta",
    "encode_request",
    "encode_status",
]
