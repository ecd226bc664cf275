"""The shipped demo: a small Financial Information System on the sys side.

`init_demo(target)` lays out in one folder what a site would bring of its
own: an SQLite database of accounts, budgets and transactions, the report
programs that read it (one of them fragile on purpose), and the job map
that lets the web side run them.

Rules:
- An existing database is never recreated or altered: it may hold a
  site's own changes. Programs and the job map are rewritten on every run,
  so an upgrade of the package reaches them.
- Every path written into the job map is absolute and resolved, because the
  daemon runs steps with a clean environment from any working directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from sysside.demo.database import create_database
from sysside.demo.jobmap import write_jobs
from sysside.demo.scripts import install_programs

__all__ = ["EXAMPLE_JOB", "DemoPaths", "init_demo"]

DATABASE_NAME = "fis.sqlite"
JOBS_NAME = "jobs.toml"
BIN_NAME = "bin"
TRIPWIRE_NAME = "tripwire.log"

# A submission that succeeds against a fresh demo: job name, then fields.
EXAMPLE_JOB: tuple[str, dict[str, str]] = ("b12", {"account": "10000001", "year": "2024"})


@dataclasses.dataclass(frozen=True)
class DemoPaths:
    """Where `init_demo` put each part of the demo; every path is absolute."""

    directory: Path
    database: Path
    jobs_file: Path
    bin_dir: Path
    # Written only by budget_12, when it receives input the job map should
    # have refused; it does not exist until then.
    tripwire_log: Path


def init_demo(target: Path) -> DemoPaths:
    """Create or refresh the demo in `target`, creating the folder if missing."""
    target.mkdir(parents=True, exist_ok=True)
    directory = target.resolve(strict=True)
    paths = DemoPaths(
        directory=directory,
        database=directory / DATABASE_NAME,
        jobs_file=directory / JOBS_NAME,
        bin_dir=directory / BIN_NAME,
        tripwire_log=directory / TRIPWIRE_NAME,
    )
    # is_symlink as well: a dangling link still names somebody's database.
    if not (paths.database.exists() or paths.database.is_symlink()):
        # Another run may have created it meanwhile; that one stands.
        with contextlib.suppress(FileExistsError):
            create_database(paths.database)
    install_programs(paths.bin_dir)
    write_jobs(paths.jobs_file, paths.database, paths.tripwire_log)
    return paths
