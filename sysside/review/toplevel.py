"""What a stub does when it is imported, and the state it keeps between requests.

Rules:
1. At import a stub may only define: a docstring, imports, functions,
   classes, and names bound to values. Any other statement runs code at
   import (in every web worker, before any request) and is a finding.
2. A call evaluated at import (in a value, a decorator, a default, a base
   class) must be to a name imported from the allowed set or to a pure
   builtin; a call to anything else, the stub's own functions included,
   is a finding. Lambdas are not called at import and are not looked into.
3. A module-level or class-level value that is a mutable container is
   shared by every request of a worker: a finding. So is any function that
   declares `global`, or changes a module-level name's contents.
"""

import ast
from collections.abc import Iterator

from sysside.review.finding import Finding, Kind
from sysside.review.names import dotted, is_allowed

# Builtins that only compute a value from their arguments.
PURE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bool", "bytes", "chr", "classmethod", "dict", "divmod", "enumerate", "float",
        "format", "frozenset", "int", "isinstance", "issubclass", "len", "list", "max", "min", "ord", "pow",
        "property", "range", "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str",
        "sum", "tuple", "zip",
    }
)  # fmt: skip
MUTABLE_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
MUTABLE_CALLS = frozenset({"list", "dict", "set", "bytearray"})
MUTATING_METHODS = frozenset(
    {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add", "discard"}
    | {"sort", "reverse"}
)


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


class ImportTime:
    """Findings for what runs at import: module and class bodies."""

    def __init__(self, imported: dict[str, str]) -> None:
        self.imported = imported
        self.findings: list[Finding] = []

    def add(self, node: ast.AST, kind: Kind, message: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), kind, message))

    def body(self, statements: list[ast.stmt], where: str) -> None:
        for statement in statements:
            # A docstring or a bare constant does nothing.
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue
            if isinstance(statement, ast.Import | ast.ImportFrom | ast.Pass):
                continue
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                for expr in [*statement.decorator_list, *statement.args.defaults, *statement.args.kw_defaults]:
                    if expr is not None:
                        self.expression(expr)
            elif isinstance(statement, ast.ClassDef):
                for expr in [*statement.decorator_list, *statement.bases, *(k.value for k in statement.keywords)]:
                    self.expression(expr)
                self.body(statement.body, f"class {statement.name}")
            elif isinstance(statement, ast.Assign | ast.AnnAssign):
                self.assignment(statement, where)
            elif self._type_checking_imports(statement):
                continue
            else:
                self.add(
                    statement,
                    Kind.SIDE_EFFECT,
                    f"{_short(statement)!r} runs at import, in {where}; only definitions belong there",
                )

    def assignment(self, statement: ast.Assign | ast.AnnAssign, where: str) -> None:
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            for element in elements:
                if not isinstance(element, ast.Name):
                    self.add(
                        statement,
                        Kind.SIDE_EFFECT,
                        f"assigning to {_short(element)} at import changes something outside the stub",
                    )
        value = statement.value
        if value is None:
            return
        self.expression(value)
        container = _container(value)
        if container is not None:
            names = ", ".join(_short(t) for t in targets)
            self.add(
                statement,
                Kind.MUTABLE,
                f"{names} in {where} is a {container}, shared by every request; "
                "use a tuple or a function that returns a new one",
            )

    def expression(self, expr: ast.expr) -> None:
        """Every call in `expr` that runs at import must be allowed."""
        for node in _walk_skipping_lambdas(expr):
            if isinstance(node, ast.Call) and not self._allowed_call(node.func):
                self.add(node, Kind.SIDE_EFFECT, f"calls {_short(node.func)}() at import")

    def _allowed_call(self, func: ast.expr) -> bool:
        name = dotted(func, self.imported)
        if name is not None:
            return is_allowed(name)
        if isinstance(func, ast.Name):
            return func.id in PURE_BUILTINS and func.id not in self.imported
        # A method of a literal, such as ", ".join(...).
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant)

    def _type_checking_imports(self, statement: ast.stmt) -> bool:
        if not isinstance(statement, ast.If) or statement.orelse:
            return False
        test = statement.test
        name = dotted(test, self.imported) if isinstance(test, ast.Attribute | ast.Name) else None
        return name == "typing.TYPE_CHECKING" and all(
            isinstance(s, ast.Import | ast.ImportFrom) for s in statement.body
        )


def _container(value: ast.expr) -> str | None:
    """The kind of mutable container `value` builds, if it builds one."""
    if isinstance(value, MUTABLE_NODES):
        return type(value).__name__.lower().removesuffix("comp")
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in MUTABLE_CALLS:
        return value.func.id
    return None


def _walk_skipping_lambdas(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.Lambda):
            yield from _walk_skipping_lambdas(child)


def import_time_findings(tree: ast.Module, imported: dict[str, str]) -> list[Finding]:
    """Findings for the module's and its classes' bodies."""
    checker = ImportTime(imported)
    checker.body(tree.body, "the module")
    return checker.findings


def module_names(tree: ast.Module, imported: dict[str, str]) -> set[str]:
    """Names bound at module level: imports, definitions, assignments."""
    names = set(imported)
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def state_findings(tree: ast.Module, imported: dict[str, str]) -> list[Finding]:
    """Findings for functions that write module state: `global`, or changing a module-level name."""
    shared = module_names(tree, imported)
    findings: list[Finding] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        local = _locals(function)
        for node in ast.walk(function):
            if isinstance(node, ast.Global):
                findings.append(
                    Finding(node.lineno, Kind.MUTABLE, f"global {', '.join(node.names)}: writes module state")
                )
            root = _changed_root(node)
            if root is not None and root.id in shared and root.id not in local:
                findings.append(
                    Finding(
                        getattr(node, "lineno", 0),
                        Kind.MUTABLE,
                        f"changes the module-level {root.id}, which every request shares",
                    )
                )
    # A nested function is walked on its own and inside its parent: once each.
    return sorted(set(findings), key=lambda f: f.sort_key)


def _locals(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    args = function.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    body = function.body if isinstance(function.body, list) else [function.body]
    declared_global = {n for s in body for node in ast.walk(s) if isinstance(node, ast.Global) for n in node.names}
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names - declared_global


def _changed_root(node: ast.AST) -> ast.Name | None:
    """The name whose contents `node` changes: x[k] = v, x.a = v, del x[k], x += v, x.append(v)."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATING_METHODS:
        return _root(node.func.value, through_names=True)
    for target in targets:
        root = _root(target, through_names=isinstance(node, ast.AugAssign))
        if root is not None:
            return root
    return None


def _root(expr: ast.expr, through_names: bool) -> ast.Name | None:
    """The name at the root of x.a[b].c; a bare name only when `through_names`."""
    if isinstance(expr, ast.Name):
        return expr if through_names else None
    while isinstance(expr, ast.Attribute | ast.Subscript):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None
