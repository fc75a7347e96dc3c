"""The ``postloan`` command line: the app, assembled from :mod:`postloan.commands`.

Each command group is a module of :mod:`postloan.commands` with a ``register(app)`` function
that adds its commands with :func:`postloan.commands.errors.command` (so every command has the
same error handling: exit 2 for user errors, 130 for Ctrl-C). The modules import only typer
and rich at start-up; numpy, pandas, scipy, numba and the model are imported inside the
command that needs them, so ``postloan --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import sys

import typer

from postloan.commands import (
    calibrate,
    experiment,
    kpis,
    optimize,
    query,
    report,
    run,
    runs,
    schedule,
    staffing,
    strategies,
    trial,
)
from postloan.commands.errors import INTERRUPTED, from_interrupt

app = typer.Typer(
    help="PostLoan Lab: simulate a loan book after disbursement and try collections strategies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: The command modules, in the order ``--help`` lists their commands.
COMMAND_MODULES = (run, experiment, trial, calibrate, optimize, staffing, strategies, runs, query,
                   report, schedule, kpis)  # fmt: skip
for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Entry point of the ``postloan`` script."""
    try:
        app()
    except KeyboardInterrupt:  # outside a command (while parsing, importing): still clean
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemError as exc:
        if from_interrupt(exc):
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(130)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
