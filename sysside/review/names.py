"""What a stub imports, and what it reaches through those imports and the builtins.

Rules:
1. A stub may import only from ALLOWED (each with its submodules); any
   other import, a relative one, or a `*` import is a finding.
2. Every use of a name is resolved to the module it came from
   (`from os import system as s; s()` is `os.system`), so renaming never
   hides a use. A use of a module known to reach files, the network or the
   system is a finding of that kind, on the line of the use.
3. Builtins that run text as code, look names up by string, or reach the
   interpreter's internals are findings wherever they appear, called or not.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from sysside.review.finding import Finding, Kind

ALLOWED = (
    "flask_wtf",
    "wtforms",
    "flask_babel",
    "datetime",
    "decimal",
    "re",
    "typing",
    "__future__",
    "collections.abc",
    "enum",
)

# Modules by what they reach; a use of any of their names is a finding.
REACHES: dict[Kind, frozenset[str]] = {
    Kind.SYSTEM: frozenset(
        {
            "subprocess", "os", "posix", "pty", "multiprocessing", "signal", "ctypes", "cffi", "sys",
            "resource", "platform", "threading", "_thread", "concurrent", "atexit", "gc", "inspect",
            "importlib", "runpy", "builtins", "code", "codeop", "pdb", "sysconfig", "site",
        }
    ),
    Kind.FILE: frozenset(
        {
            "io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "sqlite3", "shelve", "dbm",
            "zipfile", "tarfile", "mmap", "linecache", "gzip", "bz2", "lzma",
        }
    ),
    Kind.NETWORK: frozenset(
        {
            "socket", "ssl", "select", "selectors", "socketserver", "http", "urllib", "urllib3",
            "requests", "httpx", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib",
            "xmlrpc", "asyncio", "webbrowser", "paramiko", "psycopg2", "pymysql", "ldap3",
        }
    ),
    Kind.DYNAMIC: frozenset({"pickle", "marshal", "types", "operator", "copyreg", "dill"}),
}  # fmt: skip

WHAT = {
    Kind.SYSTEM: "reaches the system",
    Kind.FILE: "reaches files",
    Kind.NETWORK: "reaches the network",
    Kind.DYNAMIC: "runs or looks up code dynamically",
}

# Builtins a form never needs, by kind.
BUILTINS: dict[str, tuple[Kind, str]] = {
    "eval": (Kind.DYNAMIC, "eval() runs text as code"),
    "exec": (Kind.DYNAMIC, "exec() runs text as code"),
    "compile": (Kind.DYNAMIC, "compile() turns text into code"),
    "__import__": (Kind.DYNAMIC, "__import__() imports a module named by a string"),
    "globals": (Kind.DYNAMIC, "globals() reaches the module's namespace"),
    "locals": (Kind.DYNAMIC, "locals() reaches a namespace"),
    "vars": (Kind.DYNAMIC, "vars() reaches a namespace"),
    "setattr": (Kind.DYNAMIC, "setattr() sets an attribute named by a string"),
    "delattr": (Kind.DYNAMIC, "delattr() deletes an attribute named by a string"),
    "breakpoint": (Kind.SYSTEM, "breakpoint() starts a debugger"),
    "__builtins__": (Kind.DYNAMIC, "__builtins__ reaches every builtin"),
    "__loader__": (Kind.DYNAMIC, "__loader__ reaches the import machinery"),
    "__spec__": (Kind.DYNAMIC, "__spec__ reaches the import machinery"),
    "open": (Kind.FILE, "open() opens a file"),
    "input": (Kind.SYSTEM, "input() reads the server's standard input"),
    "exit": (Kind.SYSTEM, "exit() stops the server's worker"),
    "quit": (Kind.SYSTEM, "quit() stops the server's worker"),
    "help": (Kind.SYSTEM, "help() starts a pager"),
}

# Methods that act on files, whatever object they are called on.
FILE_METHODS = frozenset(
    {"read_text", "write_text", "read_bytes", "write_bytes", "save", "unlink", "rmdir", "mkdir", "chmod", "rename"}
)

# Dunder attributes a stub may use: calling a parent's __init__, a name, a docstring.
PLAIN_DUNDERS = frozenset({"__init__", "__name__", "__doc__"})


def is_allowed(module: str) -> bool:
    """Whether `module` is in ALLOWED or is a submodule of one."""
    return any(module == name or module.startswith(name + ".") for name in ALLOWED)


def reach_of(qualified: str) -> Kind | None:
    """What a dotted name from an import reaches, if it is one of REACHES's modules."""
    top = qualified.split(".", maxsplit=1)[0]
    for kind, modules in REACHES.items():
        if top in modules:
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Imported:
    """One import statement's module and the local names it binds."""

    line: int
    module: str
    # local name -> the dotted name it stands for
    binds: dict[str, str]
    star: bool = False
    relative: bool = False


def imports(tree: ast.Module) -> list[Imported]:
    """Every import statement in the stub, at any depth."""
    found: list[Imported] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    binds = {alias.asname: alias.name}
                else:
                    top = alias.name.split(".", maxsplit=1)[0]
                    binds = {top: top}
                found.append(Imported(node.lineno, alias.name, binds))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                found.append(Imported(node.lineno, "." * node.level + module, {}, relative=True))
                continue
            binds = {(a.asname or a.name): f"{module}.{a.name}" for a in node.names if a.name != "*"}
            found.append(Imported(node.lineno, module, binds, star=any(a.name == "*" for a in node.names)))
    return found


def import_findings(found: list[Imported]) -> Iterator[Finding]:
    """A finding for each import outside the allowed set, relative or `*`."""
    for item in found:
        if item.relative:
            yield Finding(item.line, Kind.IMPORT, f"relative import from {item.module}: import by full name")
        elif not is_allowed(item.module):
            reach = reach_of(item.module)
            why = f" ({WHAT[reach]})" if reach is not None else ""
            yield Finding(item.line, Kind.IMPORT, f"imports {item.module}{why}, which is not in the allowed set")
        if item.star:
            yield Finding(item.line, Kind.IMPORT, f"from {item.module} import *: import each name used")


def bindings(found: list[Imported]) -> dict[str, str]:
    """Local name -> the dotted name it was imported as, over the whole stub."""
    names: dict[str, str] = {}
    for item in found:
        names.update(item.binds)
    return names


def dotted(node: ast.expr, imported: dict[str, str]) -> str | None:
    """The imported dotted name an expression like `os.path.join` stands for, if any."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imported:
        return None
    return ".".join([imported[node.id], *reversed(attrs)])


class UseFinder(ast.NodeVisitor):
    """Findings for uses of names that reach files, the network, the system or code."""

    def __init__(self, imported: dict[str, str]) -> None:
        self.imported = imported
        self.findings: list[Finding] = []

    def add(self, node: ast.AST, kind: Kind, message: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), kind, message))

    def visit_Import(self, node: ast.Import) -> None:
        # The import itself is import_findings' to report.
        return

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = dotted(node, self.imported)
        if name is not None:
            self._reach(node, name)
            return
        if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in PLAIN_DUNDERS:
            self.add(node, Kind.DYNAMIC, f".{node.attr} reaches the interpreter's internals")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.imported:
            self._reach(node, self.imported[node.id])
        elif node.id in BUILTINS:
            kind, message = BUILTINS[node.id]
            self.add(node, kind, message)
        elif node.id == "getattr":
            self.add(node, Kind.DYNAMIC, "getattr passed as a value can reach any attribute")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and "getattr" not in self.imported:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.add(node, Kind.DYNAMIC, "getattr() with a name computed at run time reaches any attribute")
            elif name.value.startswith("__"):
                self.add(node, Kind.DYNAMIC, f"getattr(..., {name.value!r}) reaches the interpreter's internals")
            for part in [*node.args, *node.keywords]:
                self.visit(part)
            return
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3:
            self.add(node, Kind.DYNAMIC, "type() with three arguments makes a class at run time")
        elif isinstance(func, ast.Attribute) and func.attr in FILE_METHODS and dotted(func, self.imported) is None:
            self.add(node, Kind.FILE, f".{func.attr}() acts on files")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # "{0.__class__.__mro__}".format(x) reaches internals without an attribute in the code.
        if isinstance(node.value, str) and "{" in node.value and ".__" in node.value:
            self.add(node, Kind.DYNAMIC, "a format string that reaches __attributes__")

    def _reach(self, node: ast.AST, name: str) -> None:
        kind = reach_of(name)
        if kind is not None:
            self.add(node, kind, f"uses {name}, which {WHAT[kind]}")


def use_findings(tree: ast.Module, imported: dict[str, str]) -> list[Finding]:
    """Findings for every use of a dangerous name in the stub."""
    finder = UseFinder(imported)
    finder.visit(tree)
    return finder.findings
