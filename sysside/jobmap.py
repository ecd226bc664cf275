"""The job map: which jobs exist, their fields, and the programs they run.

Rules:
1. The map is checked whole when it loads; a map with any problem is
   refused with every problem listed, each with its location
   (`jobs.b12.fields.year.max: ...`). Nothing is checked lazily at run time
   that could have been checked here.
2. Unknown keys are errors: a misspelt `requierd` must never quietly turn
   a check off.
3. The loaded map is immutable; a reload builds a new one.

The format is described in docs/jobmap.md.
"""

import dataclasses
import datetime
import decimal
import os
import re
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hole.meta import MEDIA_TYPE_RE
from hole.request import JOB_NAME_RE
from sysside import DaemonError
from sysside.fieldtypes import LENGTH_TYPES, TYPES, FieldSpec, check_value
from sysside.templates import JOB_NAMES, Template, TemplateError, parse_template
from sysside.units import parse_duration, parse_size

FIELD_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# A step isolated in namespaces of its own is started through util-linux's
# unshare, in a user namespace of its own (the daemon has no privilege to
# make the others without one), mapped to the daemon's own uid.
UNSHARE = "/usr/bin/unshare"
ISOLATE_FLAGS = {"net": "--net", "mount": "--mount", "pid": "--pid", "ipc": "--ipc", "uts": "--uts"}

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """rlimits for every step of a job; None leaves the daemon's own."""

    cpu: float | None = 60.0
    memory: int | None = 2 * 1024**3
    open_files: int | None = 256
    processes: int | None = 1024
    file_size: int | None = 256 * 1024**2


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One program of a job: argv templates, stdin template, cwd, env."""

    program: str
    argv: tuple[Template, ...]
    stdin: Template | None = None
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return os.path.basename(self.program)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job of the map."""

    name: str
    title: str
    description: str
    timeout: float
    output: str
    filename: Template | None
    max_output: int
    limits: Limits
    env: dict[str, str]
    fields: dict[str, FieldSpec]
    steps: tuple[StepSpec, ...]
    # Namespaces every step gets of its own (net, mount, pid, ipc, uts).
    isolate: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobMap:
    """Every job of one map file."""

    path: Path
    jobs: dict[str, JobSpec]


class JobMapError(DaemonError):
    """A map with problems; `problems` lists them, each with its location."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the job map:\n{lines}")


def load_jobmap(path: str | os.PathLike[str]) -> JobMap:
    """Read and check a map file; raise JobMapError listing every problem."""
    map_path = Path(path)
    try:
        with open(map_path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise JobMapError(map_path, [f"cannot read the file: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise JobMapError(map_path, [f"not valid TOML: {exc}"]) from None
    loader = _Loader(map_path.resolve().parent)
    jobs = loader.load(document)
    if loader.problems:
        raise JobMapError(map_path, loader.problems)
    return JobMap(map_path, jobs)


class _Loader:
    """Builds the specs and collects every problem instead of stopping at one."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def table(self, where: str, value: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(where, f"must be a table, not {type(value).__name__}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def convert(self, where: str, value: Any, convert: Callable[[Any], Any]) -> Any:
        try:
            return convert(value)
        except ValueError as exc:
            self.problem(where, str(exc))
            return None

    def string(self, where: str, value: Any) -> str | None:
        if not isinstance(value, str):
            self.problem(where, f"must be a string, not {type(value).__name__}")
            return None
        return value

    def env(self, where: str, value: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, text in self.table(where, value, set(value) if isinstance(value, dict) else set()).items():
            if not ENV_NAME_RE.fullmatch(name):
                self.problem(f"{where}.{name}", "is not a valid environment variable name")
            elif not isinstance(text, str) or "\0" in text:
                self.problem(f"{where}.{name}", "must be a string without NUL")
            else:
                env[name] = text
        return env

    def limits(self, where: str, value: Any, base: Limits) -> Limits:
        raw = self.table(where, value, {"cpu", "memory", "open_files", "processes", "file_size"})
        values: dict[str, Any] = {}
        for key, raw_value in raw.items():
            if key == "cpu":
                values[key] = self.convert(f"{where}.{key}", raw_value, parse_duration)
            elif key in ("memory", "file_size"):
                values[key] = self.convert(f"{where}.{key}", raw_value, parse_size)
            elif isinstance(raw_value, int) and not isinstance(raw_value, bool) and raw_value > 0:
                values[key] = raw_value
            else:
                self.problem(f"{where}.{key}", "must be a positive integer")
        merged = {name: getattr(base, name) for name in Limits.__slots__}
        merged.update({k: v for k, v in values.items() if v is not None})
        return Limits(**merged)

    def load(self, document: dict[str, Any]) -> dict[str, JobSpec]:
        self.table("(top level)", document, {"defaults", "jobs"})
        defaults = self.table("defaults", document.get("defaults", {}), {"timeout", "max_output", "limits", "env"})
        timeout = self.convert("defaults.timeout", defaults.get("timeout", DEFAULT_TIMEOUT), parse_duration)
        max_output = self.convert("defaults.max_output", defaults.get("max_output", DEFAULT_MAX_OUTPUT), parse_size)
        limits = self.limits("defaults.limits", defaults.get("limits", {}), Limits())
        env = self.env("defaults.env", defaults.get("env", {}))
        raw_jobs = document.get("jobs")
        if raw_jobs is None or raw_jobs == {}:
            self.problem("jobs", "the map declares no jobs")
            return {}
        jobs: dict[str, JobSpec] = {}
        job_tables = self.table("jobs", raw_jobs, set(raw_jobs) if isinstance(raw_jobs, dict) else set())
        for name, raw_job in job_tables.items():
            where = f"jobs.{name}"
            if not JOB_NAME_RE.fullmatch(name):
                self.problem(where, "a job name is a-z first, then a-z, 0-9 or _, at most 63 characters")
                continue
            inherited = (timeout or DEFAULT_TIMEOUT, max_output or DEFAULT_MAX_OUTPUT, limits, env)
            job = self.job(where, name, raw_job, inherited)
            if job is not None:
                jobs[name] = job
        return jobs

    def job(
        self,
        where: str,
        name: str,
        raw_job: Any,
        inherited: tuple[float, int, Limits, dict[str, str]],
    ) -> JobSpec | None:
        timeout, max_output, limits, env = inherited
        raw = self.table(
            where,
            raw_job,
            {
                "title",
                "description",
                "timeout",
                "output",
                "filename",
                "max_output",
                "limits",
                "env",
                "fields",
                "steps",
                "isolate",
            },
        )
        before = len(self.problems)
        title = self.string(f"{where}.title", raw.get("title", None)) if "title" in raw else None
        if "title" not in raw:
            self.problem(f"{where}.title", "is required")
        description = self.string(f"{where}.description", raw.get("description", "")) or ""
        if "timeout" in raw:
            timeout = self.convert(f"{where}.timeout", raw["timeout"], parse_duration) or timeout
        if "max_output" in raw:
            max_output = self.convert(f"{where}.max_output", raw["max_output"], parse_size) or max_output
        output = self.string(f"{where}.output", raw.get("output", "text/plain")) or "text/plain"
        if not MEDIA_TYPE_RE.fullmatch(output):
            self.problem(f"{where}.output", f"{output!r} is not a media type such as text/plain")
        job_limits = self.limits(f"{where}.limits", raw.get("limits", {}), limits)
        job_env = {**env, **self.env(f"{where}.env", raw.get("env", {}))}
        isolate = self.isolate(f"{where}.isolate", raw.get("isolate", []))
        raw_fields = raw.get("fields", {})
        fields: dict[str, FieldSpec] = {}
        for field_name, raw_field in self.table(
            f"{where}.fields", raw_fields, set(raw_fields) if isinstance(raw_fields, dict) else set()
        ).items():
            spec = self.field(f"{where}.fields.{field_name}", field_name, raw_field)
            if spec is not None:
                fields[field_name] = spec
        # Placeholders are checked against every declared name, valid or
        # not: a field with a problem of its own is reported once, not again
        # at each placeholder that names it.
        declared = set(raw_fields) if isinstance(raw_fields, dict) else set()
        raw_steps = raw.get("steps")
        steps: list[StepSpec] = []
        if not isinstance(raw_steps, list) or not raw_steps:
            self.problem(f"{where}.steps", "is required: a list of at least one step")
        else:
            for index, raw_step in enumerate(raw_steps, 1):
                step = self.step(f"{where}.steps[{index}]", raw_step, declared)
                if step is not None:
                    steps.append(step)
        filename = None
        if "filename" in raw:
            filename = self.template(f"{where}.filename", raw["filename"], declared)
            if filename is not None:
                literal = "".join(text for is_name, text in filename.parts if not is_name)
                if literal and not re.fullmatch(r"[A-Za-z0-9._-]*", literal):
                    self.problem(f"{where}.filename", "only letters, digits, '.', '_' and '-' around placeholders")
        argv_fields = {n for s in steps for t in s.argv[1:] for n in t.names}
        fields = {n: _replace(spec, in_argv=n in argv_fields) for n, spec in fields.items()}
        for field_name, spec in fields.items():
            if spec.default is not None:
                refusal = check_value(spec, spec.default)
                if refusal is not None:
                    self.problem(f"{where}.fields.{field_name}.default", refusal.message)
        if len(self.problems) > before or title is None:
            return None
        return JobSpec(
            name=name,
            title=title,
            description=description,
            timeout=timeout,
            output=output,
            filename=filename,
            max_output=max_output,
            limits=job_limits,
            env=job_env,
            fields=fields,
            steps=tuple(steps),
            isolate=isolate,
        )

    def isolate(self, where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, "must be a list of namespace names")
            return ()
        unknown = sorted(set(value) - set(ISOLATE_FLAGS))
        if unknown:
            self.problem(where, f"unknown namespace(s) {', '.join(unknown)}; use {', '.join(ISOLATE_FLAGS)}")
            return ()
        if value and not os.access(UNSHARE, os.X_OK):
            self.problem(where, f"needs {UNSHARE} (util-linux), which is missing")
        return tuple(sorted(set(value)))

    def template(self, where: str, value: Any, declared: Collection[str]) -> Template | None:
        text = self.string(where, value)
        if text is None:
            return None
        if "\0" in text:
            self.problem(where, "must not contain NUL")
            return None
        try:
            template = parse_template(text)
        except TemplateError as exc:
            self.problem(where, str(exc))
            return None
        for name in sorted(template.names - JOB_NAMES - set(declared)):
            self.problem(where, f"{{{name}}} names no declared field")
        return template

    def step(self, where: str, raw_step: Any, declared: Collection[str]) -> StepSpec | None:
        raw = self.table(where, raw_step, {"run", "stdin", "cwd", "env"})
        before = len(self.problems)
        run = raw.get("run")
        if not isinstance(run, list) or not run or not all(isinstance(a, str) for a in run):
            self.problem(f"{where}.run", "must be a non-empty list of strings (the argv)")
            return None
        program_text = run[0]
        if "{" in program_text or "}" in program_text or not program_text or "\0" in program_text:
            self.problem(f"{where}.run[1]", "the program must be a literal path")
            return None
        program = Path(program_text) if os.path.isabs(program_text) else self.base_dir / program_text
        program = Path(os.path.normpath(program))
        if not program.is_file() or not os.access(program, os.X_OK):
            self.problem(f"{where}.run[1]", f"{program} is not an executable file")
        argv = [parse_template(program_text.replace("{", "{{").replace("}", "}}"))]
        for index, element in enumerate(run[1:], 2):
            template = self.template(f"{where}.run[{index}]", element, declared)
            if template is None:
                continue
            if template.names and not template.is_single_placeholder:
                self.problem(
                    f"{where}.run[{index}]",
                    f'{element!r}: a placeholder must fill a whole argv element, e.g. "{{name}}"',
                )
            argv.append(template)
        stdin = self.template(f"{where}.stdin", raw["stdin"], declared) if "stdin" in raw else None
        cwd = None
        if "cwd" in raw:
            cwd = self.string(f"{where}.cwd", raw["cwd"])
            if cwd is not None and not os.path.isabs(cwd):
                self.problem(f"{where}.cwd", "must be an absolute path")
        env = self.env(f"{where}.env", raw.get("env", {}))
        if len(self.problems) > before:
            return None
        return StepSpec(program=str(program), argv=tuple(argv), stdin=stdin, cwd=cwd, env=env)

    def field(self, where: str, name: str, raw_field: Any) -> FieldSpec | None:
        common = {"type", "required", "default", "log", "secret", "leading_dash", "label"}
        per_type = {
            "text": {"regex", "min", "max"},
            "lines": {"regex", "min", "max"},
            "digits": {"min", "max"},
            "ident": {"min", "max"},
            "int": {"min", "max"},
            "decimal": {"min", "max", "places"},
            "choice": {"choices"},
            "date": {"min", "max"},
            "flag": set(),
        }
        if not FIELD_NAME_RE.fullmatch(name):
            self.problem(where, "a field name is a-z first, then a-z, 0-9 or _, at most 63 characters")
            return None
        if not isinstance(raw_field, dict):
            self.problem(where, "must be a table with at least a type")
            return None
        kind = raw_field.get("type")
        if kind not in TYPES:
            self.problem(f"{where}.type", f"{kind!r} is not a field type; use one of {', '.join(TYPES)}")
            return None
        raw = self.table(where, raw_field, common | per_type[kind])
        before = len(self.problems)
        flags: dict[str, bool] = {}
        for key in ("required", "log", "secret", "leading_dash"):
            value = raw.get(key, False)
            if not isinstance(value, bool):
                self.problem(f"{where}.{key}", "must be true or false")
            flags[key] = bool(value)
        if flags["log"] and flags["secret"]:
            self.problem(where, "a secret field cannot also be logged")
        default = None
        if "default" in raw:
            default = self.string(f"{where}.default", raw["default"])
        low, high = raw.get("min"), raw.get("max")
        regex = None
        choices: tuple[str, ...] = ()
        places = 2
        if kind in LENGTH_TYPES:
            if high is None:
                self.problem(f"{where}.max", f"is required: the longest value a {kind} field may hold")
            for key, bound in (("min", low), ("max", high)):
                if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 0):
                    self.problem(f"{where}.{key}", "must be a length: a whole number, 0 or more")
            if isinstance(low, int) and isinstance(high, int) and low > high:
                self.problem(where, "min is larger than max")
            if isinstance(high, int) and high > 65536:
                self.problem(f"{where}.max", "at most 65536 characters")
            if kind == "text" and "regex" not in raw:
                self.problem(f"{where}.regex", "is required for a text field: the pattern the whole value must match")
            if "regex" in raw:
                source = self.string(f"{where}.regex", raw["regex"])
                if source is not None:
                    try:
                        regex = re.compile(source)
                    except re.error as exc:
                        self.problem(f"{where}.regex", f"not a valid pattern: {exc}")
        elif kind in ("int", "decimal"):
            numbers = (int,) if kind == "int" else (int, float)
            for key, bound in (("min", low), ("max", high)):
                if bound is None:
                    self.problem(f"{where}.{key}", f"is required for an {kind} field")
                elif isinstance(bound, bool) or not isinstance(bound, numbers):
                    self.problem(f"{where}.{key}", "must be a number")
            if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
                self.problem(where, "min is larger than max")
            if kind == "decimal":
                places = raw.get("places", 2)
                if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 10:
                    self.problem(f"{where}.places", "must be a whole number from 0 to 10")
                    places = 2
                low = decimal.Decimal(str(low)) if isinstance(low, int | float) else low
                high = decimal.Decimal(str(high)) if isinstance(high, int | float) else high
        elif kind == "choice":
            raw_choices = raw.get("choices")
            if not isinstance(raw_choices, list) or not raw_choices:
                self.problem(f"{where}.choices", "is required: a non-empty list of strings")
            elif not all(isinstance(c, str) and c and len(c) <= 256 for c in raw_choices):
                self.problem(f"{where}.choices", "every choice must be a non-empty string of at most 256 characters")
            elif len(set(raw_choices)) != len(raw_choices):
                self.problem(f"{where}.choices", "has duplicates")
            else:
                choices = tuple(raw_choices)
        elif kind == "date":
            low = self.date(f"{where}.min", low)
            high = self.date(f"{where}.max", high)
            if low is not None and high is not None and low > high:
                self.problem(where, "min is later than max")
        if len(self.problems) > before:
            return None
        return FieldSpec(
            name=name,
            type=kind,
            required=flags["required"],
            default=default,
            min=low,
            max=high,
            regex=regex,
            choices=choices,
            places=places,
            log=flags["log"],
            secret=flags["secret"],
            leading_dash=flags["leading_dash"],
        )

    def date(self, where: str, value: Any) -> datetime.date | None:
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            self.problem(where, "must be a date, not a date and time")
            return None
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(where, "must be a date such as 2024-01-31")
        return None


def _replace(spec: FieldSpec, **changes: Any) -> FieldSpec:
    return dataclasses.replace(spec, **changes)
