"""The job fields a stub sends, read from prepare_input()'s source, and how they match the job map.

Rules:
1. The fields are the keys of what prepare_input() returns, read without
   running it: a dict literal with string keys, dict(...) with keywords, or
   a local name bound to one of those and then only given more string keys
   (`fields["x"] = ...`). Over several returns, the fields are all of them.
2. Anything else (a computed key, `**`, .update(), a value from elsewhere)
   means the fields cannot be read, which is itself a finding: the
   webmaster must be able to see what leaves the web side.
3. Compared with the job's entry, a field sent but not declared is a
   finding (the daemon would refuse every job), and so is a declared field
   that is never sent.
"""

import ast
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from sysside.review.finding import Finding, Kind

PREPARE = "prepare_input"


@dataclass(frozen=True, slots=True)
class Sent:
    """The fields prepare_input() sends (name -> line), or why they cannot be read."""

    line: int
    fields: dict[str, int]
    unreadable: tuple[int, str] | None = None


class _Unreadable(Exception):
    def __init__(self, node: ast.AST, why: str) -> None:
        super().__init__(why)
        self.line = getattr(node, "lineno", 0)
        self.why = why


def prepare_function(tree: ast.Module) -> ast.FunctionDef | None:
    """The module-level `def prepare_input`, if there is one."""
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == PREPARE:
            return statement
    return None


def fields_sent(function: ast.FunctionDef) -> Sent:
    """What `function` returns, read from its source."""
    fields: dict[str, int] = {}
    try:
        returns = [node for node in _own(function) if isinstance(node, ast.Return)]
        if not returns:
            raise _Unreadable(function, "prepare_input() has no return statement")
        for node in returns:
            if node.value is None:
                raise _Unreadable(node, "a bare return sends nothing readable")
            fields.update(_keys(function, node.value))
    except _Unreadable as exc:
        return Sent(function.lineno, fields, (exc.line, exc.why))
    return Sent(function.lineno, fields)


def _own(function: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of `function`'s own body, not those of the functions and classes it defines."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _keys(function: ast.FunctionDef, value: ast.expr) -> dict[str, int]:
    if isinstance(value, ast.Name):
        return _built_in_place(function, value.id, value)
    return _literal_keys(value)


def _literal_keys(value: ast.expr) -> dict[str, int]:
    if isinstance(value, ast.Dict):
        keys: dict[str, int] = {}
        for key in value.keys:
            if key is None:
                raise _Unreadable(value, "** in the returned dict hides which fields are sent")
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise _Unreadable(key, f"the key {ast.unparse(key)} is computed, not a string")
            keys[key.value] = key.lineno
        return keys
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        if value.args or any(k.arg is None for k in value.keywords):
            raise _Unreadable(value, "dict() with arguments other than keywords hides which fields are sent")
        return {k.arg: k.lineno for k in value.keywords if k.arg is not None}
    raise _Unreadable(value, f"returns {ast.unparse(value)[:60]}, not a dict literal or dict(...) with keywords")


def _built_in_place(function: ast.FunctionDef, name: str, where: ast.AST) -> dict[str, int]:
    """The keys of local `name`: bound to a literal, then given string keys, and nothing else."""
    args = function.args
    if name in {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}:
        raise _Unreadable(where, f"returns its argument {name}")
    keys: dict[str, int] = {}
    bound = False
    for node in _own(function):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == name:
                    if node.value is None:
                        continue
                    keys.update(_literal_keys(node.value))
                    bound = True
                elif isinstance(target, ast.Subscript) and _is_name(target.value, name):
                    key = target.slice
                    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                        raise _Unreadable(target, f"{name}[{ast.unparse(key)}] sets a computed key")
                    keys[key.value] = target.lineno
                elif _mentions(target, name):
                    raise _Unreadable(target, f"{name} is changed in a way that cannot be read")
        elif isinstance(node, ast.AugAssign | ast.Delete | ast.For | ast.With | ast.NamedExpr):
            changed: list[ast.expr | None] = [*node.targets] if isinstance(node, ast.Delete) else [_target(node)]
            if any(t is not None and _mentions(t, name) for t in changed):
                raise _Unreadable(node, f"{name} is changed in a way that cannot be read")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_name(node.func.value, name):
            raise _Unreadable(node, f"{name}.{node.func.attr}() changes the fields in a way that cannot be read")
        elif isinstance(node, ast.Call) and any(_mentions(a, name) for a in [*node.args, *node.keywords]):
            raise _Unreadable(node, f"{name} is passed to {ast.unparse(node.func)[:40]}(), which may change it")
    if not bound:
        raise _Unreadable(where, f"{name} is not bound to a dict literal in prepare_input()")
    return keys


def _target(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.AugAssign | ast.For | ast.NamedExpr):
        return node.target
    if isinstance(node, ast.With):
        for item in node.items:
            if item.optional_vars is not None:
                return item.optional_vars
    return None


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def field_findings(sent: Sent) -> list[Finding]:
    """A finding when the fields cannot be read."""
    if sent.unreadable is None:
        return []
    line, why = sent.unreadable
    return [Finding(line, Kind.FIELDS_UNKNOWN, f"the fields sent cannot be read from the source: {why}")]


def job_findings(sent: Sent | None, job: str, job_line: int, declared: Collection[str] | None) -> list[Finding]:
    """Findings from comparing the fields sent with the job's entry (None: the map has no such job)."""
    if declared is None:
        return [Finding(job_line, Kind.NO_JOB, f"the job map has no job {job}")]
    if sent is None or sent.unreadable is not None:
        return []
    findings = [
        Finding(line, Kind.UNDECLARED, f"sends {name}, which job {job} does not declare")
        for name, line in sent.fields.items()
        if name not in declared
    ]
    findings += [
        Finding(sent.line, Kind.UNSENT, f"job {job} declares {name}, which prepare_input() never sends")
        for name in sorted(declared)
        if name not in sent.fields
    ]
    return findings
