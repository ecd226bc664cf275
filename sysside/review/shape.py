"""Whether a stub has the shape the registry needs, read from its source.

Rules:
1. A stub is broken when the registry could not serve it: a bad file name,
   bytes that are not UTF-8 Python, a syntax error, no show_form() or
   prepare_input(), a JOB that is not a job name, or an import that cannot
   be found. A broken stub cannot be approved.
2. Finding out never runs the stub. An import from the allowed set is
   checked by importing that module (the project's own dependencies); any
   other only by looking for it, which runs nothing.
"""

import ast
import importlib
import importlib.util

from sysside.review.names import imports, is_allowed
from webside.registry import NAME_RE

REQUIRED = ("show_form", "prepare_input")


def parse(name: str, source: bytes) -> tuple[ast.Module | None, list[str]]:
    """The stub's syntax tree, or None and why it cannot be read."""
    if not NAME_RE.fullmatch(name):
        return None, [f"the file name must match {NAME_RE.pattern}.py (lower case, digits and _)"]
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"it is not UTF-8 (byte {exc.start})"]
    try:
        return ast.parse(text, filename=f"{name}.py"), []
    except SyntaxError as exc:
        return None, [f"syntax error on line {exc.lineno}: {exc.msg}"]
    except ValueError as exc:
        return None, [f"it cannot be parsed: {exc}"]


def job_of(tree: ast.Module, name: str) -> tuple[str, int, str | None]:
    """The stub's job name, the line that sets it (1 when it is the default), and a problem if any."""
    job, line, problem = name, 1, None
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(isinstance(t, ast.Name) and t.id == "JOB" for t in targets):
                value = statement.value
                line = statement.lineno
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and NAME_RE.fullmatch(value.value):
                    job, problem = value.value, None
                else:
                    problem = f"JOB must be a string literal naming a job ({NAME_RE.pattern}), on line {line}"
    return job, line, problem


def problems(tree: ast.Module, name: str) -> list[str]:
    """Why the registry could not serve this stub; empty when it could."""
    found: list[str] = []
    defined = set()
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef):
            defined.add(statement.name)
        elif isinstance(statement, ast.Assign):
            defined.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    found += [f"it has no {function}() function" for function in REQUIRED if function not in defined]
    _job, _line, job_problem = job_of(tree, name)
    if job_problem is not None:
        found.append(job_problem)
    found += _missing_imports(tree)
    return found


def _missing_imports(tree: ast.Module) -> list[str]:
    missing = []
    for item in imports(tree):
        if item.relative:
            continue
        if not is_allowed(item.module):
            top = item.module.split(".", maxsplit=1)[0]
            if importlib.util.find_spec(top) is None:
                missing.append(f"line {item.line}: {top} cannot be imported: no such module here")
            continue
        try:
            module = importlib.import_module(item.module)
        except ImportError:
            missing.append(f"line {item.line}: {item.module} cannot be imported: no such module")
            continue
        for full in item.binds.values():
            # Only `from module import name` binds names below the module.
            if not full.startswith(item.module + "."):
                continue
            attribute = full[len(item.module) + 1 :]
            if not hasattr(module, attribute) and not _submodule(full):
                missing.append(f"line {item.line}: {item.module} has no {attribute}")
    return missing


def _submodule(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False
