"""The webmaster's review: what each stub does, whether it is approved, and the job map's lint.

Nothing here runs a stub: findings come from reading its source with
`ast`. The approval manifest's format belongs to the web side
(webside.approval), which reads it inside the jail; this package writes it.
"""

from sysside import DaemonError


class ReviewError(DaemonError):
    """A review or approval that cannot go ahead; the message says why and what to do."""
