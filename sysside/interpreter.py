"""A Python interpreter the unprivileged users can run.

The sys side's programs and, when jailed, the daemon itself run as
holesys. The interpreter that runs `hole` may live where that user cannot
reach (pyenv under /root, mode 0700); then the system's interpreter of the
same version is used, with the project's import path handed over.
"""

import os
import stat
import sys
import sysconfig
from pathlib import Path


def reachable_by_others(path: str | os.PathLike[str]) -> bool:
    """True if a user with no special rights can reach and read/run path."""
    current = Path(os.path.realpath(path))
    try:
        if not current.stat().st_mode & stat.S_IROTH:
            return False
        for parent in current.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def shared_python() -> str:
    """This interpreter if others may run it, else the system's of the same version."""
    own = os.path.realpath(sys.executable)
    if reachable_by_others(own) and os.stat(own).st_mode & stat.S_IXOTH:
        return own
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if os.access(candidate, os.X_OK) and reachable_by_others(candidate):
            return candidate
    return own


def import_path() -> list[str]:
    """Folders that give another interpreter of this version our packages."""
    project = str(Path(__file__).resolve().parent.parent)
    return [project, sysconfig.get_paths()["purelib"]]
