"""Serve the web side under gunicorn and record every file it loads: the jail builder's probe.

Run as a program in a fresh interpreter (`python -I probe.py OUT -- GUNICORN_ARGS...`),
never imported by the sys side. It imports only the standard library and
gunicorn, which then loads the web side exactly as the jail will run it
(`python -m gunicorn -c python:webside.gunicorn_conf`).

An audit hook records every file opened, from the first import on: the
modules, and the data files that packages read. Opening is not the only
use of a file: babel decides whether a locale exists by checking that its
data file does, so os.stat, os.lstat and os.access are watched too (the
import system has its own, unwatched, copy of stat). When a worker exits,
and when the master exits, the process writes what it saw to
OUT/<pid>.json: sys.modules' files, the files opened or checked, and where
this interpreter keeps its standard library and third-party packages.
"""

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

_opened: set[str] = set()
_dlopened: set[str] = set()


def _watch(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def watched(path: Any, *args: Any, **kwargs: Any) -> Any:
        result = function(path, *args, **kwargs)
        # Paths relative to a dir_fd, and plain fds, name nothing we can place.
        if result and isinstance(path, str | bytes | os.PathLike) and kwargs.get("dir_fd") is None:
            _opened.add(os.path.abspath(os.fsdecode(path)))
        return result

    return watched


os.stat = _watch(os.stat)
os.lstat = _watch(os.lstat)
os.access = _watch(os.access)


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Runs on every open in this process: it must never raise.
    if event == "open" and args and isinstance(args[0], str | bytes):
        with contextlib.suppress(OSError, ValueError):
            _opened.add(os.path.abspath(os.fsdecode(args[0])))
    elif event == "ctypes.dlopen" and args and isinstance(args[0], str | bytes):
        _dlopened.add(os.fsdecode(args[0]))


sys.addaudithook(_audit)

import runpy  # noqa: E402  (after the hook, so that its own files are seen)
import site  # noqa: E402
import sysconfig  # noqa: E402

# Where the jail's interpreter lives: its prefix decides where it looks for
# the standard library and for site-packages.
JAIL_PREFIX = "/usr"


def jail_site_packages() -> str:
    """The first site-packages folder the jail's interpreter will look in.

    The jail's interpreter runs outside any virtual environment, and a
    distribution's site module (Debian's) picks other folders there than in
    one, so the question is asked as if this process ran outside it too.
    """
    inside = sys.prefix, sys.exec_prefix
    sys.prefix, sys.exec_prefix = sys.base_prefix, sys.base_exec_prefix
    try:
        return site.getsitepackages([JAIL_PREFIX])[0]
    finally:
        sys.prefix, sys.exec_prefix = inside


def _layout() -> dict[str, str]:
    paths = sysconfig.get_paths()
    return {
        "executable": os.path.realpath(sys.executable),
        "base_prefix": sys.base_prefix,
        "base_exec_prefix": sys.base_exec_prefix,
        "stdlib": paths["stdlib"],
        "platstdlib": paths["platstdlib"],
        "purelib": paths["purelib"],
        "platlib": paths["platlib"],
        "jail_site_packages": jail_site_packages(),
        "cache_tag": sys.implementation.cache_tag or "",
    }


def dump(out_dir: str) -> None:
    """Write what this process has loaded and opened to OUT/<pid>.json."""
    modules = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name != "__main__" and isinstance(file, str):
            modules[name] = os.path.abspath(file)
    record = {
        "pid": os.getpid(),
        "modules": modules,
        "opened": sorted(_opened),
        "dlopened": sorted(_dlopened),
        "layout": _layout(),
    }
    path = os.path.join(out_dir, f"{os.getpid()}.json")
    with open(path + ".part", "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(path + ".part", path)


def main() -> None:
    out_dir, separator, *gunicorn_args = sys.argv[1:]
    if separator != "--":
        raise SystemExit("usage: probe.py OUT -- GUNICORN_ARGS...")

    from gunicorn.app.wsgiapp import WSGIApplication  # noqa: PLC0415 (the hook must be in first)

    load_config = WSGIApplication.load_config

    def load_config_and_hooks(self: WSGIApplication) -> None:
        # The site's own hooks still run; ours come after them.
        load_config(self)
        worker_exit, on_exit = self.cfg.worker_exit, self.cfg.on_exit

        def probe_worker_exit(server: object, worker: object) -> None:
            worker_exit(server, worker)
            dump(out_dir)

        def probe_on_exit(server: object) -> None:
            on_exit(server)
            dump(out_dir)

        self.cfg.set("worker_exit", probe_worker_exit)
        self.cfg.set("on_exit", probe_on_exit)

    WSGIApplication.load_config = load_config_and_hooks
    sys.argv = ["gunicorn", *gunicorn_args]
    # As `python -m gunicorn` does in the jail, so that runpy is seen too.
    runpy.run_module("gunicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
