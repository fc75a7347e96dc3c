"""No compiled function takes more than about a dozen arguments (issue 14).

Long positional lists are where arrays get swapped unnoticed; kernels take the book, the
channel table and the parameters as small tuples or structured records instead.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from numba.core.registry import CPUDispatcher

import sim
import strategies

MAX_ARGUMENTS = 12


def compiled_functions() -> dict[str, int]:
    """Every numba dispatcher defined in ``sim`` and ``strategies``: name -> argument count."""
    found = {}
    for package in (sim, strategies):
        modules = [package.__name__]
        modules += [
            m.name for m in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")
        ]
        for name in modules:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name:
                    qualified = f"{name}.{value.py_func.__qualname__}"
                    found[qualified] = len(inspect.signature(value.py_func).parameters)
    return found


def test_the_walk_finds_the_kernels() -> None:
    found = compiled_functions()
    # the main kernels of each family, so that a broken walk cannot pass by finding nothing
    for name in (
        "sim.dispatch_kernels.dispatch_attempts",
        "strategies.rule_kernels.rule_requests",
        "sim.kernels.ring.static_checks",
        "sim.kernels.due.due_date_work",
        "sim.kernels.repay.repayment_draws",
    ):
        assert name in found
    assert len(found) > 100


def test_no_compiled_function_takes_more_than_a_dozen_arguments() -> None:
    too_many = {name: n for name, n in compiled_functions().items() if n > MAX_ARGUMENTS}
    assert not too_many, f"compiled functions with more than {MAX_ARGUMENTS} arguments: {too_many}"
