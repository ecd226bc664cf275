"""Fixtures of the sys-side tests: a control group of the test's own."""

import os
import secrets
from collections.abc import Iterator

import pytest

from sysside.cgroups import Group, detect
from tests.conftest import cannot_run


@pytest.fixture
def jobs_group() -> Iterator[str]:
    if not detect():
        cannot_run("memory and pids control groups (cgroup v1 or v2)")
    base = f"hole-test-{os.getpid()}-{secrets.token_hex(3)}"
    jobs = Group.at(f"{base}/jobs")
    assert jobs is not None
    jobs.create()
    yield f"{base}/jobs"
    top = Group.at(base)
    assert top is not None
    top.remove()


def cgroup_lines(text: str) -> dict[str, str]:
    """/proc/PID/cgroup as controller -> path (v2's single line as "unified")."""
    found = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else ["unified"]:
            found[name] = path
    return found
