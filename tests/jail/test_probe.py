"""The probe's view of where the jail's interpreter looks for site-packages."""

import os
import subprocess
import sys

from sysside.jail.probe import JAIL_PREFIX


def _ask(python: str, code: str) -> str:
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_site_packages_as_the_interpreter_sees_them_outside_a_venv() -> None:
    # The jail's interpreter is the base one, run from no virtual
    # environment; Debian's site module answers differently inside one.
    probed = _ask(sys.executable, "from sysside.jail.probe import jail_site_packages; print(jail_site_packages())")
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    outside = _ask(base, f"import site; print(site.getsitepackages([{JAIL_PREFIX!r}])[0])")
    assert probed == outside
    assert probed.startswith(f"{JAIL_PREFIX}/")
