"""Files and folders written whole or not at all: the project's one atomic writer.

Everything the lab saves (run folders, experiment cells, manifests, calibration fits,
optimiser checkpoints, reports) goes through :func:`write_file` or :func:`staged_folder`: the
content is written to a hidden temporary name beside its destination and renamed into place
(``os.replace``, atomic on POSIX), so an interruption leaves the old file or nothing, never half
of one.

It lives in ``sim`` because it is the bottom layer: ``postloan`` and ``optimizer`` both write
files, and the dependencies point ``postloan -> optimizer -> strategies -> sim``, so only a
module here can be shared by both without an import going the wrong way. It imports nothing
but the standard library.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Temporary names start with a dot and end with this suffix (see :func:`clean_temporaries`).
TMP_SUFFIX = ".tmp"


def _umask() -> int:
    # os.umask can only be read by setting it; done once, before any thread starts writing
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def write_file(path: str | Path, write: Callable[[Path], None], mode: int | None = None) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file, which is renamed.

    Parameters
    ----------
    path : path
        The destination; its folder must exist.
    write : callable
        Called with the temporary path; writes the whole content there (any writer that takes
        a path: ``DataFrame.to_parquet``, ``pyarrow.parquet.write_table``...).
    mode : int, optional
        Permission bits of the final file (default: 0666 less the umask, as ``open`` gives;
        ``mkstemp`` alone would leave the file private).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    return write_file(path, write)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


@contextmanager
def staged_folder(parent: str | Path, name: str) -> Iterator[Path]:
    """A folder built under a temporary name in ``parent`` and renamed to ``parent/name``
    when the ``with`` block ends without an exception; removed otherwise (Ctrl-C included).

    Yields
    ------
    Path
        The temporary folder to fill.
    """
    parent = Path(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes the folder private
        tmp.rename(parent / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_temporaries(folder: str | Path) -> int:
    """Remove the temporary files an interruption left in ``folder``; returns how many."""
    n = 0
    folder = Path(folder)
    if folder.is_dir():
        for f in folder.glob(f".*{TMP_SUFFIX}"):
            f.unlink(missing_ok=True)
            n += 1
    return n
