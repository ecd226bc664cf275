"""Durations and sizes as the job map spells them."""

import pytest

from sysside.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        (0.25, 0.25),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        (" 2s ", 2.0),
    ],
)
def test_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "fast", "30", "-1s", "0s", "0ms", 0, -5, True, "1d", "1e3s", "1,5s", "s", "30 seconds", None, [30]],
)
def test_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1024, 1024),
        ("10B", 10),
        ("512KB", 512 * 1024),
        ("512KiB", 512 * 1024),
        ("16MB", 16 * 1024**2),
        ("16MiB", 16 * 1024**2),
        ("1GB", 1024**3),
        ("1GiB", 1024**3),
    ],
)
def test_size_accepts(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "lots", "1.5MB", "16mb", "-1MB", "0MB", 0, -1, True, 1.5, "1TB", "MB", "16 megabytes", None]
)
def test_size_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)
