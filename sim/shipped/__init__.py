"""The scenarios shipped with the lab, found by name or by their repository path.

In a source checkout (or an editable install) the scenarios are the repository's top-level
``scenarios/`` folder; an installed wheel carries the same files as package data of this package
(``sim/shipped/scenarios``, mapped from ``scenarios/`` in ``setup.py``). :func:`find_scenario`
turns what a user names into a file from any working directory:

* a path that exists (relative to the working directory, or absolute) is taken as it is, so every
  existing relative path keeps working;
* a bare name (``default``, ``baseline``) is the shipped scenario of that name;
* a path written as the repository writes it (``scenarios/default.yaml``,
  ``scenarios/experiments/example.yaml``) is the shipped file when the working directory has none.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The scenario commands use when none is named.
DEFAULT_SCENARIO = "default"

#: The source checkout's folder (absent in an installed wheel).
_SOURCE_FOLDER = Path(__file__).resolve().parents[2] / "scenarios"


def scenarios_folder() -> Path:
    """The folder of the shipped scenarios: the checkout's ``scenarios/``, else the package
    data of an installed wheel."""
    if _SOURCE_FOLDER.is_dir():
        return _SOURCE_FOLDER
    return Path(str(resources.files(__name__) / "scenarios"))


def shipped_scenario_names() -> list[str]:
    """The names of the shipped scenarios (file stems), sorted."""
    return sorted(p.stem for p in scenarios_folder().glob("*.yaml"))


def find_scenario(ref: str | Path) -> Path:
    """The scenario file ``ref`` names (see the module docstring).

    Returns ``ref`` unchanged when it names nothing shipped either, so that the loader reports
    the missing file under the name the user gave.
    """
    path = Path(ref)
    if path.exists() or path.is_absolute():
        return path
    folder = scenarios_folder()
    if len(path.parts) == 1 and path.suffix not in (".yaml", ".yml"):
        named = folder / f"{path.name}.yaml"
        return named if named.is_file() else path
    if path.parts[0] == "scenarios" and len(path.parts) > 1:
        shipped = folder.joinpath(*path.parts[1:])
        return shipped if shipped.is_file() else path
    return path
