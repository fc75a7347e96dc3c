"""What every test of a command's bad input checks: exit code 2, no traceback, the message."""

from __future__ import annotations

from click.testing import Result


def user_error(result: Result, *needles: str) -> None:
    """``result`` (a ``CliRunner`` invocation) refused its input as a user error: exit code 2,
    no traceback, no exception but the exit, and every one of ``needles`` on stderr."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
