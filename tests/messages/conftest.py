"""The console's signed-in fixtures, shared with the console's own tests."""

from tests.console.conftest import console

__all__ = ["console"]
