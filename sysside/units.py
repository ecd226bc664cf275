"""Durations and sizes as people write them in the job map."""

import re

_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)")
_SIZE_RE = re.compile(r"([0-9]+)\s*(B|KB|KiB|MB|MiB|GB|GiB)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_UNITS = {"B": 1, "KB": 1024, "KiB": 1024, "MB": 1024**2, "MiB": 1024**2, "GB": 1024**3, "GiB": 1024**3}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "500ms", "30s", "5m", "1h"."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.fullmatch(value.strip())):
        seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    else:
        raise ValueError(f"expected a duration such as 30s, 500ms or 5m, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an integer or a string like "512KB", "16MB", "1GiB"."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE_RE.fullmatch(value.strip())):
        size = int(match[1]) * _SIZE_UNITS[match[2]]
    else:
        raise ValueError(f"expected a size such as 16MB or 512KB, got {value!r}")
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size
