"""The probe's view of where the jail's interpreter looks for site-packages.

The probe is asked in a child process: importing it adds an audit hook
and watches os.stat for good, which this test run must not get.
"""

import json
import os
import subprocess
import sys


def _ask(python: str, code: str) -> str:
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_site_packages_as_the_interpreter_sees_them_outside_a_venv() -> None:
    # The jail's interpreter is the base one, run from no virtual
    # environment; Debian's site module answers differently inside one.
    asked = (
        "import json\n"
        "from sysside.jail import probe\n"
        "print(json.dumps([probe.JAIL_PREFIX, probe.jail_site_packages()]))"
    )
    prefix, probed = json.loads(_ask(sys.executable, asked))
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    outside = _ask(base, f"import site; print(site.getsitepackages([{prefix!r}])[0])")
    assert probed == outside
    assert probed.startswith(f"{prefix}/")
