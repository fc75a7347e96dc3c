"""Python strategies named on the command line: ``package.module:Class`` or ``file.py:Class``.

``postloan run ... --strategy my_strategies:CallBigArrears`` imports ``my_strategies`` (from the
installed packages, or from the current folder), takes ``CallBigArrears`` and makes the
strategy: a class is instantiated without arguments, a function is called without arguments, an
object is used as it is. What comes out must have a ``decide`` method and a ``name`` (subclass
:class:`strategies.base.Strategy` to get everything else); anything else is a
:class:`~strategies.registry.StrategyError` saying which part failed. Importing runs the
module's code, as ``python -m`` would: only name modules you trust.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from sim.user_input import Problem, UserInputError
from strategies.base import Strategy

#: ``package.module:Attribute`` (dotted attribute allowed) or ``path/to/file.py:Attribute``.
_REF = re.compile(r"^(?P<module>[^:]+?):(?P<attr>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

#: What the engine calls on a strategy, for duck-typed objects that do not subclass Strategy.
_REQUIRED = ("decide", "recovery_path")


def is_python_ref(ref: str) -> bool:
    """Is ``ref`` written as ``module:Attribute`` or ``file.py:Attribute``?"""
    m = _REF.match(ref)
    return bool(m) and (_MODULE.match(m["module"]) is not None or m["module"].endswith(".py"))


def _problem(ref: str, message: str) -> UserInputError:
    return UserInputError(Problem(ref, "", message))


def _import_module(module: str, ref: str) -> Any:
    try:
        if module.endswith(".py"):
            path = Path(module)
            if not path.is_file():
                raise _problem(ref, f"no such Python file {module!r}")
            name = "postloan_user_" + re.sub(r"\W", "_", str(path.resolve()))
            if name in sys.modules:
                return sys.modules[name]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise _problem(ref, f"cannot import {module!r} as a Python module")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[name]
                raise
            return mod
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            top = module.split(".")[0]
            if exc.name != top or os.getcwd() in sys.path:
                raise
            # the console script does not put the current folder on the path; python -m does
            sys.path.append(os.getcwd())
            return importlib.import_module(module)
    except UserInputError:
        raise
    except ModuleNotFoundError as exc:
        raise _problem(
            ref,
            f"module {exc.name!r} not found (install it, or run from the folder that holds it)",
        ) from None
    except Exception as exc:  # the user's module failed to import: say how, not a traceback
        raise _problem(ref, f"importing {module!r} failed: {type(exc).__name__}: {exc}") from None


def _check(obj: Any, ref: str) -> Strategy:
    missing = [m for m in _REQUIRED if not callable(getattr(obj, m, None))]
    if missing:
        raise _problem(
            ref,
            f"{type(obj).__name__} is not a strategy: it has no {' or '.join(missing)} method "
            "(subclass strategies.base.Strategy and write decide(view))",
        )
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise _problem(ref, f"{type(obj).__name__} has no name (set a class attribute name = ...)")
    if not isinstance(getattr(obj, "pre_due_days", 0), int):
        raise _problem(ref, "pre_due_days must be an integer (days before the due date)")
    if not hasattr(obj, "pre_due_days"):
        obj.pre_due_days = 0
    return obj


def load_python_strategy(ref: str) -> Strategy:
    """The strategy ``ref`` names (``package.module:Class`` or ``file.py:Class``).

    Raises
    ------
    UserInputError
        Module not found or failing to import, attribute not found, construction failing, or
        the object not a strategy (no ``decide``, no ``name``).
    """
    m = _REF.match(ref)
    if m is None:
        raise _problem(ref, "write a Python strategy as package.module:Class or file.py:Class")
    module, attr = m["module"], m["attr"]
    obj: Any = _import_module(module, ref)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _problem(ref, f"{module!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "decide")):
        try:
            obj = obj()
        except Exception as exc:
            raise _problem(
                ref,
                f"{attr} could not be created without arguments: {type(exc).__name__}: {exc}",
            ) from None
    return _check(obj, ref)


def as_strategy(obj: Any, what: str = "strategy") -> Strategy:
    """A strategy object or class handed over in Python (the API), checked like a named one."""
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise _problem(
                what, f"{obj.__name__} could not be created: {type(exc).__name__}: {exc}"
            ) from None
    return _check(obj, what)
