"""Where results go: the ``--out`` folder checked before any work, folder names kept inside it."""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(ValueError):
    """An output folder that cannot be written, or a name that would leave it."""


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """Check, before any simulation, that folders can be written under ``out``.

    ``out`` need not exist (it is made when the results are saved), but it must not be a file,
    and it, or its nearest existing parent, must be a writable folder. Nothing is created.

    Raises
    ------
    OutputError
        Naming ``option`` and the reason.
    """
    out = Path(out)
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == out else f"cannot be made: {probe} is a file"
        raise OutputError(f"{option} {out}: {what}, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or _read_only(probe):
        where = "" if probe == out else f" ({probe} is not writable)"
        raise OutputError(f"{option} {out}: cannot write there{where}")
    return out


def _read_only(folder: Path) -> bool:
    """A read-only file system (``os.access`` answers for the permission bits only when the
    process is root)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs
        return False


def folder_part(text: str, what: str) -> str:
    """``text`` as part of a folder name, refused when it could point outside its parent
    (a path separator, ``..``, a leading dot, a NUL) or is empty."""
    bad = (
        not text
        or "/" in text
        or "\\" in text
        or "\0" in text
        or text.startswith(".")
        or (os.altsep is not None and os.altsep in text)
    )
    if bad:
        raise OutputError(
            f"{what} {text!r}: cannot name a results folder (no '/', '\\', leading '.' or '..'; "
            "use letters, digits, '-' and '_')"
        )
    return text


def inside(parent: Path, child: Path) -> bool:
    """Whether ``child`` resolves to a path under ``parent``."""
    try:
        Path(child).resolve().relative_to(Path(parent).resolve())
    except ValueError:
        return False
    return True
