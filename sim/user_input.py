"""User input: files read safely, and every problem with them reported at once.

Every file a user hands the lab (scenario, strategy, experiment, decision space, compliance
profile, trial) goes through :func:`read_yaml_mapping`, and every problem with it becomes a
:class:`Problem` (the file, the field as a dotted path, what was wrong, what was given) inside
one :class:`UserInputError`. The command line prints such an error as its message, one problem
a line, and exits with code 2; each loader raises its own subclass (``ScenarioError``,
``StrategyError``...), so callers can catch one kind or all of them.

Reading is safe: YAML goes through a ``SafeLoader`` (no tags, nothing constructed but plain
data, nothing executed), a key given twice in a mapping is refused with both line numbers (YAML
itself would keep the last one silently), and a document nested too deeply, expanding through
aliases to too many nodes (the "billion laughs"), or containing itself is refused before
anything walks it. Numbers in exponent form without a dot (``1e12``) are read as numbers, as
YAML 1.2 and every user expect, not as strings as YAML 1.1 would.

This module lives in ``sim`` (the bottom layer) so that every loader above it can use it
without bending the dependency direction ``postloan -> optimizer -> strategies -> sim``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from inspect import isclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

#: Files larger than this are refused before parsing (the largest shipped file is ~9 kB).
MAX_FILE_BYTES = 4 * 2**20
#: Deepest nesting of mappings and lists (the deepest shipped file nests 4 levels).
MAX_DEPTH = 32
#: Most nodes a document may expand to through aliases (a shipped scenario has ~1,000).
MAX_NODES = 200_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's input.

    Attributes
    ----------
    source : str
        The file (its path as given), or the option (``--principal``) or object it came from.
    field : str
        Dotted path of the field inside the file (``macro.reference``, ``rules.1.dpd``; list
        positions 0-based, as in the file's structure); empty for the file as a whole.
    message : str
        What is wrong and what is allowed.
    given : str or None
        What was given, as written in messages (a short ``repr``); None: not shown.
    where : str or None
        How the field is named in the message (``rule 2, field 'dpd'``); None: ``field 'x'``.
    """

    source: str
    field: str = ""
    message: str = ""
    given: str | None = None
    where: str | None = None

    def __str__(self) -> str:
        where = self.where or (f"field '{self.field}'" if self.field else "")
        parts = [p for p in (self.source, where) if p]
        text = ": ".join([*parts, self.message])
        if self.given is not None:
            text += f" (given: {self.given})"
        return text


class UserInputError(ValueError):
    """Input a user gave that cannot be used: one or more :class:`Problem` s.

    ``str(error)`` is one line per problem, each naming its file and field; ``error.problems``
    holds them as data. Built from a plain message too (``UserInputError("...")``), for
    problems that have no file.
    """

    def __init__(self, problems: str | Problem | Iterable[Problem]):
        if isinstance(problems, str):
            problems = [Problem(source="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def shown(value: Any, limit: int = 60) -> str:
    """A value as messages show it: its ``repr``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- YAML
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same rules, faster


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """``SafeLoader`` that also reads ``1e12`` as a number (YAML 1.2), not as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _key_label(loader: Any, node: yaml.Node) -> Any:
    """The value a scalar key stands for (``1`` and ``01`` are the same key), else None."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        return loader.yaml_constructors[node.tag](loader, node)
    except Exception:  # an unknown tag: the constructor reports it properly later
        return None


def _check_nodes(loader: Any, root: yaml.Node, source: str) -> None:
    """Refuse duplicate keys (all of them at once), deep nesting, self-reference and alias
    bombs, by walking the composed node graph once (shared nodes are sized once)."""
    duplicates: list[Problem] = []
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def visit(node: yaml.Node, path: tuple[str, ...]) -> int:
        field = ".".join(path)
        if len(path) > MAX_DEPTH:
            raise UserInputError(
                Problem(source, field, f"nested more than {MAX_DEPTH} levels deep")
            )
        nid = id(node)
        if nid in open_nodes:
            raise UserInputError(
                Problem(source, field, "refers to itself (an alias inside its own anchor)")
            )
        if nid in sizes:
            return sizes[nid]
        open_nodes.add(nid)
        total = 1
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    total += visit(value_node, path)
                    continue
                key = _key_label(loader, key_node)
                name = str(key) if key is not None else "?"
                line = key_node.start_mark.line + 1
                try:
                    if key is not None and key in first_line:
                        duplicates.append(
                            Problem(
                                source,
                                ".".join((*path, name)),
                                f"given twice (lines {first_line[key]} and {line}); "
                                "a key may appear only once in a mapping",
                            )
                        )
                    elif key is not None:
                        first_line[key] = line
                except TypeError:  # an unhashable key: the constructor refuses it later
                    pass
                total += visit(key_node, path) + visit(value_node, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                total += visit(item, (*path, str(i)))
        open_nodes.discard(nid)
        sizes[nid] = total
        if total > MAX_NODES:
            raise UserInputError(
                Problem(
                    source,
                    field,
                    f"expands to more than {MAX_NODES:,} values (through aliases); "
                    "a real file is far smaller",
                )
            )
        return total

    visit(root, ())
    if duplicates:
        raise UserInputError(duplicates)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """The parser's complaint with its line, without the parser's internal stream name."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark or exc.context_mark
        text = " ".join(f"{exc.context or ''} {exc.problem}".split())
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
    else:
        text = " ".join(str(exc).split())
    return text[:300]


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document safely (see the module docstring).

    Raises
    ------
    UserInputError
        Not valid YAML (tags included), duplicate keys, too deep, too big, self-referencing.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(loader, node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise UserInputError(
            Problem(source, message=f"not valid YAML: {_yaml_reason(exc)}")
        ) from None
    except RecursionError:
        raise UserInputError(
            Problem(source, message=f"not valid YAML: nested more than {MAX_DEPTH} levels deep")
        ) from None
    finally:
        loader.dispose()


def read_text(path: str | Path, what: str) -> str:
    """A user file's text (UTF-8), or a :class:`UserInputError` saying why it cannot be read.

    ``what`` names the kind of file in messages (``"scenario"``: "no such scenario file").
    """
    path = Path(path)
    source = str(path)
    try:
        if path.is_dir():
            raise UserInputError(Problem(source, message=f"is a folder, not a {what} file"))
        with path.open("rb") as stream:  # bounded: a device or pipe cannot flood memory
            raw = stream.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise UserInputError(
                Problem(
                    source,
                    message=f"is larger than {MAX_FILE_BYTES:,} bytes, the most a {what} "
                    "file may have",
                )
            )
    except FileNotFoundError:
        raise UserInputError(Problem(source, message=f"no such {what} file")) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UserInputError(Problem(source, message=f"cannot read: {reason}")) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserInputError(
            Problem(
                source,
                message=f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                "save the file as UTF-8",
            )
        ) from None


def read_yaml_mapping(
    path: str | Path,
    what: str,
    error: type[UserInputError] = UserInputError,
    fields_hint: str = "fields",
    entries: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read a user's YAML file that must hold a mapping (every file format of the lab).

    Parameters
    ----------
    path : str or Path
    what : str
        The kind of file, for messages (``"scenario"``, ``"strategy"``, ``"space"``).
    error : type
        The :class:`UserInputError` subclass to raise (``ScenarioError``...).
    fields_hint : str
        What the mapping should contain, for the message when it is not one.
    entries : mapping, optional
        Lists of the file whose entries messages name by number (``{"rules": "rule"}``).

    Raises
    ------
    UserInputError
        Of class ``error``: cannot read, not UTF-8, not YAML, duplicate keys, not a mapping.
    """
    source = str(path)
    try:
        data = parse_yaml(read_text(path, what), source)
    except UserInputError as exc:
        problems = exc.problems
        if entries:
            problems = tuple(_numbered(p, entries) for p in problems)
        raise error(problems) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise error(
            Problem(source, message=f"a {what} file must be a mapping of {fields_hint}, got {got}")
        )
    return data


# ----------------------------------------------------------------------------- schema versions
def migrate(
    data: dict[str, Any],
    source: str,
    what: str,
    current: int,
    migrations: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]],
    error: type[UserInputError] = UserInputError,
) -> dict[str, Any]:
    """Bring a file's mapping to the ``current`` schema version.

    ``schema_version`` is optional (missing means 1) and is removed from the returned mapping.
    ``migrations[v]`` turns a version-``v`` mapping into version ``v + 1``; the chain runs up to
    ``current``. A newer version than this code knows is refused with a clear message.
    """
    data = dict(data)
    version = data.pop("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise error(
            Problem(
                source,
                "schema_version",
                f"must be a whole number from 1 to {current} (the current version)",
                given=shown(version),
            )
        )
    if version > current:
        raise error(
            Problem(
                source,
                "schema_version",
                f"this {what} file is schema version {version}, newer than this PostLoan Lab "
                f"reads (1 to {current}); upgrade PostLoan Lab, or write the file for version "
                f"{current}",
            )
        )
    while version < current:
        data = migrations[version](data)
        version += 1
    return data


# ----------------------------------------------------------------------------- pydantic
def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X`` (other unions are left alone)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp


def _child_type(tp: Any, part: Any) -> Any:
    tp = _unwrap(tp)
    if isclass(tp) and issubclass(tp, BaseModel):
        info = tp.model_fields.get(part) if isinstance(part, str) else None
        return info.annotation if info is not None else None
    if typing.get_origin(tp) in (list, tuple, dict):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return args[-1] if args else None
    return None


def allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The keys allowed in the mapping that holds ``loc`` (a pydantic error location)."""
    tp: Any = model
    for part in loc[:-1]:
        tp = _child_type(tp, part)
        if tp is None:
            return None
    tp = _unwrap(tp)
    if isclass(tp) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return None


def _entry_where(loc: tuple, entries: Mapping[str, str]) -> str | None:
    """``rule 2, field 'dpd'`` for ``("rules", 1, "dpd")`` when ``entries`` maps ``rules`` to
    ``rule``: list entries of a file numbered from 1, as people count them."""
    if len(loc) >= 2 and loc[0] in entries and isinstance(loc[1], int):
        rest = ".".join(str(x) for x in loc[2:]) or "(whole entry)"
        return f"{entries[loc[0]]} {loc[1] + 1}, field '{rest}'"
    return None


def _numbered(problem: Problem, entries: Mapping[str, str]) -> Problem:
    """``rules.1.dpd`` named as ``rule 2, field 'dpd'`` (a problem found before validation)."""
    loc = tuple(int(x) if x.isdigit() else x for x in problem.field.split(".") if x)
    where = _entry_where(loc, entries)
    if where is None or problem.where is not None:
        return problem
    return Problem(problem.source, problem.field, problem.message, problem.given, where)


def problems_from_validation(
    exc: ValidationError,
    source: str,
    model: type[BaseModel] | None = None,
    what: str = "",
    entries: Mapping[str, str] | None = None,
) -> list[Problem]:
    """A pydantic error as problems, one per error, each naming the field and what is allowed.

    Parameters
    ----------
    exc : ValidationError
    source : str
        The file.
    model : pydantic model class, optional
        The file's model, to list the keys allowed where an unknown key was given.
    what : str
        The kind of file, for "unknown key (not part of the scenario format)".
    entries : mapping, optional
        Lists of the file whose entries are named by number (``{"rules": "rule"}``).
    """
    problems: list[Problem] = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) for p in loc)
        msg = e["msg"].removeprefix("Value error, ")
        given: str | None = shown(e.get("input"))
        if e["type"] == "extra_forbidden":
            fmt = f" (not part of the {what} format)" if what else ""
            msg = f"unknown key{fmt}"
            keys = allowed_keys(model, loc) if model is not None else None
            if keys:
                msg += "; allowed: " + ", ".join(keys)
            given = None
        elif e["type"] == "missing":
            msg = "required, but not given"
            given = None
        elif e["type"] == "finite_number":
            msg = "must be a finite number"
        elif isinstance(e.get("input"), dict | list):
            given = None  # a whole section: the message says what is wrong with it
        where = _entry_where(loc, entries) if entries else None
        problems.append(Problem(source, field, msg, given, where))
    return list(dict.fromkeys(problems))  # unions can repeat an error: keep each once
