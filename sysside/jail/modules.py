"""What goes into the jail: each file's place there and where it comes from.

Rules:
1. Python modules are the ones the probe saw loaded (discover.py). A module
   file is placed by the folder it came from: the interpreter's standard
   library goes to usr/lib/python3.X, site-packages to the jail's
   site-packages. A module from anywhere else stops the build: the jail
   would have no place for it.
2. Packages the web side loads by name at run time are copied whole:
   webside/ (its code, static files and compiled translations, .mo only),
   hole/, templates/, the stubs, and gunicorn (workers and loggers are
   imported by name from its settings).
   Standard modules that C code imports on first use are copied too
   (LAZY_STDLIB): `_strptime` is imported by the first
   datetime.strptime, which is a date field's first parse, on a page
   (a filled form's post) the probe does not reach.
3. The jail never gets sys-side code: a `sysside` module seen by the probe
   stops the build.
4. Every .py copied gets its compiled .pyc next to it: the jail is
   read-only, so a module without one would be compiled at every start.
5. Shared libraries are what elfdeps.py resolves for the interpreter and
   every extension module copied, each under usr/lib by its soname; the
   loader goes where the interpreter names it. Libraries and extension
   modules lose their debug sections (Kind.STRIP): nothing in the jail
   reads them, and pyenv's libpython carries 17 MB of them. The
   interpreter's own binary is copied as it is.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sysside.jail import JailError
from sysside.jail.discover import Discovery, Layout
from sysside.jail.elfdeps import ElfError, Resolver, is_elf
from sysside.jail.layout import (
    APP_DIR,
    APP_PTH,
    GROUP,
    INTERPRETER,
    LIB_DIR,
    NSSWITCH,
    NSSWITCH_TEXT,
    PASSWD,
    WebIds,
    group_text,
    passwd_text,
)
from webside.approval import MANIFEST_NAME, approved_stub_files

# Packages of the project that the jail gets whole, under APP_DIR.
APP_PACKAGES = ("webside", "hole")
# Third-party packages the jail gets whole (see rule 2).
WHOLE_PACKAGES = ("gunicorn",)
FORBIDDEN_PACKAGES = ("sysside",)
# Standard modules imported from C on first use (see rule 2).
LAZY_STDLIB = ("_strptime",)
# glibc's folder of compiled locales, and the one locale the jail gets.
# Python switches the C locale to C.UTF-8 at startup (PEP 538), which needs
# these files; without them the jail would run with ASCII as its encoding.
LOCALE_DIR = "/usr/lib/locale"
UTF8_LOCALES = ("C.utf8", "C.UTF-8")
# Host folders whose files are never data the jail needs.
_SYSTEM_PREFIXES = ("/dev/", "/proc/", "/sys/")
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")


class Kind(enum.Enum):
    """How the builder makes a file."""

    COPY = "copy"  # byte for byte from `source`, modification time kept
    STRIP = "strip"  # a shared object from `source`, without its debug sections
    PYC = "pyc"  # compiled from `source` (a .py), whose jail copy is `of`
    TEXT = "text"  # written from `text`


@dataclass(frozen=True)
class Item:
    """One file of the jail: its place (relative to the jail) and how to make it."""

    dest: str
    kind: Kind
    source: str = ""
    of: str = ""
    text: str = ""


@dataclass
class Plan:
    """Every file the jail should hold, by place; the host files read but left out; what is missing."""

    items: dict[str, Item] = field(default_factory=dict)
    left_out: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add(self, item: Item) -> None:
        """Add `item`; two different sources for one place stop the build."""
        known = self.items.get(item.dest)
        if known is not None and known != item:
            raise JailError(
                f"two files want the jail's {item.dest}: {known.source or '(text)'} and {item.source or '(text)'}"
            )
        self.items[item.dest] = item

    def add_python(self, source: str, dest: str, cache_tag: str) -> None:
        """A module file; a .py brings its compiled form."""
        self.add(Item(dest, Kind.COPY, source))
        if dest.endswith(".py") and cache_tag:
            head, name = os.path.split(dest)
            pyc = f"{head}/__pycache__/{name[:-3]}.{cache_tag}.pyc"
            self.add(Item(pyc, Kind.PYC, source, of=dest))


def stubs_to_copy(stubs_dir: Path) -> list[Path]:
    """The stub files the jail gets: those approved as they are now, and the manifest.

    A new stub, or one changed since its approval, stays out of the jail
    (the web side would refuse it anyway; out of the jail, it cannot even
    be read there).
    """
    files = approved_stub_files(stubs_dir)
    manifest = stubs_dir / MANIFEST_NAME
    return [*files, manifest] if manifest.is_file() else files


def make_plan(discovery: Discovery, stubs_dir: Path, web_ids: WebIds) -> Plan:
    """Every file of the jail, from what the probe saw and the project's folders."""
    layout = discovery.layout
    place = python_placer(layout)
    plan = Plan()
    app_dirs = {name: _package_dir(discovery, name) for name in APP_PACKAGES}
    templates = app_dirs["webside"].parent / "templates"
    stubs_dir = stubs_dir.absolute()
    copied_whole = [*app_dirs.values(), templates, stubs_dir]

    for name, file in sorted(discovery.modules.items()):
        top = name.split(".")[0]
        if top in FORBIDDEN_PACKAGES:
            raise JailError(f"the web side imported {name} ({file}): the jail never gets sys-side code")
        if _inside(file, copied_whole):
            continue
        dest = place(file)
        if dest is None:
            raise JailError(
                f"the web side imported {name} from {file}, outside the interpreter's standard library "
                f"({layout.stdlib}) and site-packages ({layout.purelib}): the jail has no place for it"
            )
        plan.add_python(file, dest, layout.cache_tag)

    for name in LAZY_STDLIB:
        lazy = os.path.join(layout.stdlib, f"{name}.py")
        dest = place(lazy)
        if dest is None or not os.path.isfile(lazy):
            raise JailError(f"{lazy} is missing: the web side imports {name} at run time")
        plan.add_python(lazy, dest, layout.cache_tag)

    interpreter = os.path.realpath(layout.executable)
    for file in sorted(discovery.opened):
        if file.endswith(".pyc") or _inside(file, copied_whole) or file.startswith(_SYSTEM_PREFIXES):
            continue
        if not os.path.isfile(file) or os.path.realpath(file) == interpreter:
            continue
        dest = place(file)
        if dest is None:
            plan.left_out.add(file)
        elif dest not in plan.items:
            plan.add(Item(dest, Kind.COPY, file))

    for package in WHOLE_PACKAGES:
        root = _package_dir(discovery, package)
        for source in _files(root, lambda p: p.suffix == ".py"):
            dest = place(str(source))
            if dest is None:
                raise JailError(f"{package} is at {root}, outside site-packages: the jail has no place for it")
            plan.add_python(str(source), dest, layout.cache_tag)

    _add_app(plan, app_dirs, templates, stubs_dir, layout.cache_tag)
    _add_libraries(plan, layout, discovery.dlopened)
    _add_locale(plan)

    site = layout.jail_site_packages.strip("/")
    plan.add(Item(f"{site}/{APP_PTH}", Kind.TEXT, text=f"/{APP_DIR}\n"))
    plan.add(Item(PASSWD, Kind.TEXT, text=passwd_text(web_ids)))
    plan.add(Item(GROUP, Kind.TEXT, text=group_text(web_ids)))
    plan.add(Item(NSSWITCH, Kind.TEXT, text=NSSWITCH_TEXT))
    return plan


def python_placer(layout: Layout) -> Callable[[str], str | None]:
    """A function giving a host module file's place in the jail, or None if it has none."""
    site = layout.jail_site_packages.strip("/")
    stdlib = "usr/" + os.path.relpath(layout.stdlib, layout.base_prefix)
    roots = {
        os.path.normpath(layout.purelib): site,
        os.path.normpath(layout.platlib): site,
        os.path.normpath(layout.stdlib): stdlib,
    }
    # The longest root first: site-packages may live inside the stdlib folder.
    ordered = sorted(roots.items(), key=lambda item: len(item[0]), reverse=True)

    def place(path: str) -> str | None:
        path = os.path.normpath(path)
        for root, dest in ordered:
            if path.startswith(root + os.sep):
                return f"{dest}/{Path(os.path.relpath(path, root)).as_posix()}"
        return None

    return place


def _package_dir(discovery: Discovery, name: str) -> Path:
    file = discovery.modules.get(name)
    if file is None or not file.endswith("__init__.py"):
        raise JailError(f"the probe did not see the {name} package loaded; the jail needs it")
    return Path(file).parent


def _inside(file: str, folders: Iterable[Path]) -> bool:
    return any(file.startswith(f"{folder}{os.sep}") for folder in folders)


def _files(root: Path, wanted: Callable[[Path], bool]) -> list[Path]:
    """The files under `root` that `wanted` accepts, leaving out caches and hidden files."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if "__pycache__" in parts or any(part.startswith(".") for part in parts):
            continue
        if path.is_file() and wanted(path):
            found.append(path)
    return found


def _add_app(plan: Plan, app_dirs: dict[str, Path], templates: Path, stubs_dir: Path, cache_tag: str) -> None:
    for name, root in app_dirs.items():
        for file in _files(root, lambda p: p.suffix == ".py"):
            plan.add_python(str(file), f"{APP_DIR}/{name}/{file.relative_to(root).as_posix()}", cache_tag)
    webside = app_dirs["webside"]
    for folder, wanted in (("static", lambda p: True), ("translations", lambda p: p.suffix == ".mo")):
        for file in _files(webside / folder, wanted):
            plan.add(Item(f"{APP_DIR}/webside/{file.relative_to(webside).as_posix()}", Kind.COPY, str(file)))
    for file in _files(templates, lambda p: True):
        plan.add(Item(f"{APP_DIR}/templates/{file.relative_to(templates).as_posix()}", Kind.COPY, str(file)))
    for file in stubs_to_copy(stubs_dir):
        plan.add(Item(f"{APP_DIR}/stubs/{file.name}", Kind.COPY, str(file)))


def _add_libraries(plan: Plan, layout: Layout, dlopened: Iterable[str]) -> None:
    """The interpreter, its loader, and every shared library the copied ELF files need."""
    plan.add(Item(INTERPRETER, Kind.COPY, layout.executable))
    elf_dests = [
        item.dest
        for item in plan.items.values()
        if item.kind is Kind.COPY and _SHARED_OBJECT.search(item.dest) and is_elf(item.source)
    ]
    resolver = Resolver()
    try:
        for file in [layout.executable, *(plan.items[dest].source for dest in elf_dests)]:
            resolver.add(file)
        for name in sorted(dlopened):
            resolver.add_name(name)
    except ElfError as exc:
        raise JailError(f"shared libraries: {exc}") from None
    loaders = {os.path.realpath(path): path for path in resolver.interpreters}
    for path in resolver.interpreters:
        plan.add(Item(path.lstrip("/"), Kind.STRIP, os.path.realpath(path)))
    for soname, file in sorted(resolver.loaded.items()):
        # The loader is already loaded by the path in the binary, so the
        # libraries that name it get that one.
        if os.path.realpath(file) not in loaders:
            plan.add(Item(f"{LIB_DIR}/{soname}", Kind.STRIP, os.path.realpath(file)))
    for dest in elf_dests:
        plan.items[dest] = dataclasses.replace(plan.items[dest], kind=Kind.STRIP)


def _add_locale(plan: Plan) -> None:
    for name in UTF8_LOCALES:
        folder = Path(LOCALE_DIR) / name
        if folder.is_dir():
            for file in _files(folder, lambda p: True):
                plan.add(Item(file.as_posix().lstrip("/"), Kind.COPY, str(file)))
            return
    plan.notes.append(
        f"no C.UTF-8 locale in {LOCALE_DIR}: the web side will run with an ASCII locale unless PYTHONUTF8=1 is set"
    )
