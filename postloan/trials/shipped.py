"""The trial library shipped with the lab, found from any working directory.

In a source checkout the library is the repository's top-level ``trials/`` folder; an installed
wheel carries the same files as package data (``postloan/trials/library``, mapped from
``trials/`` in ``setup.py``). :func:`find_trial_path` keeps every path that exists as it is and
turns ``trials`` / ``trials/NAME.yaml`` (as the repository writes them) into the shipped files
when the working directory has none.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The source checkout's folder (absent in an installed wheel).
_SOURCE_FOLDER = Path(__file__).resolve().parents[2] / "trials"


def trials_folder() -> Path:
    """The folder of the shipped trial library."""
    if _SOURCE_FOLDER.is_dir():
        return _SOURCE_FOLDER
    return Path(str(resources.files("postloan.trials") / "library"))


def find_trial_path(ref: str | Path) -> Path:
    """The trial file or folder ``ref`` names: itself when it exists, else the shipped one
    written the repository's way (``trials``, ``trials/NAME.yaml``), else ``ref`` unchanged."""
    path = Path(ref)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] != "trials":
        return path
    shipped = trials_folder().joinpath(*path.parts[1:])
    return shipped if shipped.exists() else path
