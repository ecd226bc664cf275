"""Jobs the map isolates get namespaces of their own; others share the daemon's."""

import os
from pathlib import Path

import pytest

from sysside.jobmap import JobMapError, load_jobmap
from tests.conftest import DaemonFactory
from webside.client import HoleClient

MAP = """
[jobs.isolated]
title = "isolated"
isolate = ["net", "mount", "pid", "ipc", "uts"]
steps = [ { run = ["/usr/bin/readlink", "/proc/self/ns/net", "/proc/self/ns/mnt", "/proc/self/ns/pid_for_children"] } ]

[jobs.shared]
title = "shared"
steps = [ { run = ["/usr/bin/readlink", "/proc/self/ns/net", "/proc/self/ns/mnt"] } ]
"""


def test_isolated_steps_get_their_own_namespaces(tmp_path: Path, daemon_factory: DaemonFactory) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(MAP, encoding="utf-8")
    daemon = daemon_factory(jobs)
    own = [os.readlink(f"/proc/{daemon.process.pid}/ns/{name}") for name in ("net", "mnt")]
    client = HoleClient(daemon.spool)
    shared, status = client.run("shared", {})
    assert status.ok, status
    assert shared.decode().split() == own
    isolated, status = client.run("isolated", {})
    assert status.ok, status
    net, mnt, _pid = isolated.decode().split()
    assert net != own[0] and mnt != own[1]
    assert net.startswith("net:[") and mnt.startswith("mnt:[")


def test_unknown_namespace_is_a_map_error(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[jobs.x]\ntitle = "x"\nisolate = ["time"]\nsteps = [{ run = ["/bin/true"] }]\n', encoding="utf-8")
    with pytest.raises(JobMapError, match=r"jobs\.x\.isolate: unknown namespace\(s\) time"):
        load_jobmap(jobs)
