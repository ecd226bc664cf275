"""The protocol's one exception."""


def shorten(raw: bytes | str, limit: int = 60) -> str:
    """Show a bad value with %r, cut so a hostile value cannot flood a log line."""
    if len(raw) > limit:
        return f"{raw[:limit]!r}... ({len(raw)} bytes)"
    return repr(raw)


class ProtocolError(ValueError):
    """Bytes that do not follow PROTOCOL.md; the message names the rule broken.

    Raised for anything the other side sent that is malformed or over a
    limit. It never means a bug on the side that raises it.
    """
