"""Where a result came from: package versions, the code commit, the model version, the schema.

``model_version`` is a hash of the model's sources (every ``.py`` and ``.yaml`` file under
``sim/`` and ``strategies/``, path and content): two runs with the same model version were made
by the same model, whatever else (the CLI, reports, the git state) changed. ``compare`` and
``query`` refuse to pool results of different model versions unless told to.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "pydantic", "simpy", "mesa", "pyomo")

#: Version of the layout of result folders (manifest, summary, cells). Raised when a field
#: changes meaning or moves; readers refuse folders from a newer version.
RESULT_SCHEMA_VERSION = 2


class SchemaError(ValueError):
    """A result folder written by a newer version of the lab than this one."""


def check_schema(manifest: dict, folder: object) -> dict:
    """``manifest`` if this version of the lab can read its folder.

    Folders without a ``schema_version`` are version 1 (timings in ``summary.json``); they are
    read as they are (readers take timings from the manifest first, then the summary).

    Raises
    ------
    SchemaError
        For a folder of a newer schema.
    """
    v = manifest.get("schema_version", 1)
    if not isinstance(v, int) or v > RESULT_SCHEMA_VERSION:
        raise SchemaError(
            f"{folder}: result schema version {v!r}, newer than this PostLoan Lab reads "
            f"({RESULT_SCHEMA_VERSION}); upgrade the lab to read it"
        )
    return manifest


class MixedVersionsError(ValueError):
    """Results made by different model versions, pooled without being allowed to."""


_ROOT = Path(__file__).resolve().parents[2]
_MODEL_PACKAGES = ("sim", "strategies")


def code_commit() -> str | None:
    """The git commit of the code that ran (with ``-dirty`` when uncommitted changes exist)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    """Python's and the main libraries' versions."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def model_version() -> str:
    """``<package version>+<12 hex digits>``: the hash of the model's source files."""
    h = hashlib.sha256()
    for pkg in _MODEL_PACKAGES:
        base = _ROOT / pkg
        files = sorted(
            p
            for p in base.rglob("*")
            if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts
        )
        for p in files:
            h.update(p.relative_to(_ROOT).as_posix().encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    try:
        version = metadata.version("postloan-lab")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{h.hexdigest()[:12]}"
