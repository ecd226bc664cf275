"""The sanitizer: a job's raw fields checked against its job-map entry.

Rules:
1. This is the authority. Whatever the web side checked, every field is
   checked again here, before anything runs.
2. A field the map does not declare is a rejection, never ignored.
3. Values must be UTF-8; the checks see text, never bytes.
"""

from collections.abc import Mapping

from sysside.fieldtypes import Rejection, check_value
from sysside.jobmap import JobSpec


def validate_fields(job: JobSpec, raw_fields: Mapping[str, bytes]) -> dict[str, str] | Rejection:
    """Return every declared field's checked value, or the first refusal."""
    for name in raw_fields:
        if name not in job.fields:
            return Rejection(name, "unknown_field", f"field {name!r} is not part of job {job.name!r}")
    values: dict[str, str] = {}
    for name, spec in job.fields.items():
        raw_value = raw_fields.get(name, b"")
        try:
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            return Rejection(name, "encoding", f"field {name!r} is not valid UTF-8 text")
        if value == "":
            if spec.required:
                return Rejection(name, "required", f"field {name!r} is required")
            value = spec.default or ""
            if value == "":
                values[name] = ""
                continue
        refusal = check_value(spec, value)
        if refusal is not None:
            return refusal
        values[name] = value
    return values
