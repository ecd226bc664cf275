"""One finding: something a stub's source does beyond building a form and returning fields."""

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What sort of thing was found; the value is how it is named in the review."""

    IMPORT = "import outside the allowed set"
    FILE = "file access"
    NETWORK = "network access"
    SYSTEM = "subprocess, os or system call"
    DYNAMIC = "dynamic code"
    SIDE_EFFECT = "module-level side effect"
    MUTABLE = "global mutable state"
    NO_JOB = "job not in the job map"
    UNDECLARED = "field not declared"
    UNSENT = "declared field not sent"
    FIELDS_UNKNOWN = "fields cannot be read"


# Kinds that compare the stub with the job map; skipped without one.
JOB_MAP_KINDS = frozenset({Kind.NO_JOB, Kind.UNDECLARED, Kind.UNSENT})


@dataclass(frozen=True, slots=True)
class Finding:
    """A finding at one line of the stub."""

    line: int
    kind: Kind
    message: str

    def __str__(self) -> str:
        # This text is what an approval records as accepted, so it must not
        # depend on anything but the stub's source and the job map.
        return f"line {self.line}: {self.kind.value}: {self.message}"

    @property
    def sort_key(self) -> tuple[int, str, str]:
        return (self.line, self.kind.value, self.message)
