"""The web side's app fixtures, for the tests of what is served."""

from tests.webside.conftest import make_app, spool

__all__ = ["make_app", "spool"]
