"""The one error wrapper of every command, and the one way commands are registered.

* A user error (a broken file, an unknown name, an option out of range, an output folder that
  cannot be written) prints one line ``error: <what and where>`` on stderr and exits with code 2.
* Ctrl-C prints one line and exits with code 130, with no traceback: a ``KeyboardInterrupt``,
  and the ``SystemError`` numba raises when the interrupt lands inside a compiled kernel
  ("returned a result with an exception set", with the interrupt as its context).
* Anything else is a bug and keeps its traceback.

Every command is added with :func:`command` (``@command(app)`` inside the module's
``register(app)``), which applies :func:`guarded`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

#: ``(module, class)`` of the exceptions that mean "the user gave us something we cannot use".
#: They are looked up in ``sys.modules`` when an error happens, so the wrapper imports nothing
#: at start-up (a class whose module was never imported cannot have been raised).
USER_ERROR_CLASSES: tuple[tuple[str, str], ...] = (
    ("sim.user_input", "UserInputError"),  # every file loader's problems (several at once)
    ("sim.scenario", "ScenarioError"),
    ("sim.compliance", "ComplianceError"),
    ("sim.calibration.panel", "PanelError"),
    ("strategies.registry", "StrategyError"),
    ("optimizer.space", "SpaceError"),
    ("optimizer.search", "CheckpointError"),
    ("postloan.experiments.spec", "ExperimentError"),
    ("postloan.storage.query", "QueryError"),
    ("postloan.storage.provenance", "MixedVersionsError"),
    ("postloan.storage.provenance", "SchemaError"),
    ("postloan.storage.paths", "OutputError"),
    ("postloan.storage.catalog", "ResultNotFound"),
    ("postloan.reports.html", "ReportError"),
    ("postloan.trials.spec", "TrialError"),
)

INTERRUPTED = "interrupted: nothing half-written was kept"


class UserError(ValueError):
    """A command's own check failed (the message names the option or file)."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """The user-error classes of the modules imported so far."""
    out: list[type[BaseException]] = [UserError]
    for module, name in USER_ERROR_CLASSES:
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if cls is not None:
            out.append(cls)
    return tuple(out)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise (code 2)."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def from_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a ``KeyboardInterrupt``."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def interrupted(hint: str | None = None) -> typer.Exit:
    """Print the one-line interrupt message and return the exit to raise (code 130)."""
    print(hint or INTERRUPTED, file=sys.stderr)
    return typer.Exit(code=130)


def guarded(
    fn: Callable[..., Any], interrupt_hint: str | None = None, *, simulates: bool = False
) -> Callable[..., Any]:
    """``fn`` with user errors mapped to exit 2 and Ctrl-C to exit 130 (see the module).

    With ``simulates``, :func:`postloan.warm.prepare_kernels` runs first: stale compiled
    kernels are dropped and a compile, if one happens, is announced instead of a silent pause.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if simulates:
                from postloan.warm import prepare_kernels

                prepare_kernels()
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise interrupted(interrupt_hint) from None
        except SystemError as exc:
            if from_interrupt(exc):
                raise interrupted(interrupt_hint) from None
            raise
        except Exception as exc:
            if isinstance(exc, user_error_types()):
                raise fail(str(exc)) from None
            if isinstance(exc, OSError) and exc.filename is not None:
                # a file or folder the user named cannot be read or written
                raise fail(f"{exc.filename}: {exc.strerror or exc}") from None
            raise

    wrapper.__guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def command(
    app: typer.Typer,
    name: str | None = None,
    *,
    interrupt_hint: str | None = None,
    simulates: bool = False,
    **kw: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` as a command of ``app``, wrapped by :func:`guarded` (``simulates``: a
    command that runs the engines, see :func:`guarded`)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        app.command(name, **kw)(guarded(fn, interrupt_hint, simulates=simulates))
        return fn

    return decorate


#: Seeds are unsigned 64-bit in the generator; derived seeds add offsets, so 2**63 - 1 is the cap.
MAX_SEED = 2**63 - 1


def check_seed(seed: int | None, option: str = "--seed") -> int | None:
    """``seed`` if it is None or in ``0..2**63-1``; else a :class:`UserError`."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UserError(f"{option}: must be an integer from 0 to {MAX_SEED:,} (got {seed})")
    return seed
