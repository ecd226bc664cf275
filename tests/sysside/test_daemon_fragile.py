"""The demo's fragile budget_12 never sees input its job map refuses.

budget_12 writes a line to its tripwire log whenever it gets an account
that is not 8 digits or a year that is not 4; through the daemon that log
must stay empty, while run directly with the same input it fills.
"""

import json
import subprocess
from pathlib import Path

import pytest

from hole import Status
from sysside.demo import EXAMPLE_JOB, DemoPaths, init_demo
from sysside.jobmap import load_jobmap
from tests.conftest import DaemonFactory
from webside.client import HoleClient

pytestmark = pytest.mark.timeout(60)

HOSTILE = [
    ({"account": "1" * 40, "year": "2024"}, "account", "too_long"),
    ({"account": "10000001' OR '1'='1", "year": "2024"}, "account", "too_long"),
    ({"account": "1000' OR", "year": "2024"}, "account", "not_digits"),
    ({"account": "10000001\n2024", "year": "2024"}, "account", "too_long"),
    ({"account": "1000001\n", "year": "2024"}, "account", "control_char"),
    ({"account": "10000001", "year": "2024 OR 1=1"}, "year", "invalid"),
    ({"account": "10000001", "year": "2024\n"}, "year", "invalid"),
    ({"account": "10000001", "year": "0"}, "year", "out_of_range"),
    ({"account": "-1000000", "year": "2024"}, "account", "leading_dash"),
    # Fullwidth digits: str.isdigit() says yes, the map says no.
    ({"account": "\uff11\uff10\uff10\uff10\uff10\uff10\uff10\uff10", "year": "2024"}, "account", "not_digits"),
    ({"account": "10000001", "year": "2024", "debug": "1"}, "debug", "unknown_field"),
    ({"year": "2024"}, "account", "required"),
]


@pytest.fixture
def fresh_demo(tmp_path: Path) -> DemoPaths:
    # A demo of its own: the tripwire log must start absent.
    return init_demo(tmp_path / "demo")


def tripwire_lines(demo: DemoPaths) -> list[str]:
    if not demo.tripwire_log.exists():
        return []
    return demo.tripwire_log.read_text().splitlines()


def test_hostile_values_never_reach_budget_12(fresh_demo: DemoPaths, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(fresh_demo.jobs_file)
    client = HoleClient(daemon.spool, timeout=20)
    for fields, field, code in HOSTILE:
        output, status = client.run("b12", fields)
        assert status.status is Status.REJECTED, (fields, status)
        assert (status.details["field"], status.details["code"]) == (field, code), fields
        assert output == b""
    assert tripwire_lines(fresh_demo) == []
    # The control: the daemon does run budget_12 for good input, with the
    # environment that names the tripwire log.
    job, fields = EXAMPLE_JOB
    output, status = client.run(job, fields)
    assert status.status is Status.OK, status
    assert b"BUDGET REPORT 12" in output
    assert tripwire_lines(fresh_demo) == []
    events = daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "job"]) == len(HOSTILE) + 1)
    outcomes = [(e["outcome"], e["steps"]) for e in events if e.get("event") == "job"]
    assert outcomes[:-1] == [("rejected", [])] * len(HOSTILE)
    assert outcomes[-1][0] == "ok"


@pytest.mark.parametrize(
    ("account", "year"),
    [("10000001\n2024", "2024"), ("1" * 40, "2024"), ("10000001' OR '1'='1", "2024"), ("10000001", "2024 OR 1=1")],
)
def test_budget_12_run_directly_trips_the_wire(fresh_demo: DemoPaths, account: str, year: str) -> None:
    # Same program, same environment as the map gives it, no daemon in between.
    env = load_jobmap(fresh_demo.jobs_file).jobs["b12"].env
    assert env["FIS_TRIPWIRE"] == str(fresh_demo.tripwire_log)
    subprocess.run(
        [str(fresh_demo.bin_dir / "budget_12"), "--account", account],
        input=f"{year}\n".encode(),
        env=env,
        capture_output=True,
        timeout=20,
        check=False,
    )
    (line,) = tripwire_lines(fresh_demo)
    record = json.loads(line)
    assert record["program"] == "budget_12"
    assert record["account"] == account and record["year"] == year
