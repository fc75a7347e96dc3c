"""User errors: one clear message on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps

import typer

from optimizer.space import SpaceError
from sim.compliance import ComplianceError
from sim.scenario import ScenarioError
from sim.user_input import UserInputError
from strategies.registry import StrategyError

#: Exceptions that mean "the user gave us something we cannot use" (every loader's error
#: subclasses sim.user_input.UserInputError; the others are listed for clarity).
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserInputError,
    ScenarioError,
    StrategyError,
    ComplianceError,
    SpaceError,
)


def fail(message: str) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise (code 2)."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def user_errors(fn: Callable) -> Callable:
    """Turn the user errors a command raises into a message and exit code 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None

    return wrapper
