"""Compile settings and the small compiled helpers every kernel and borrower rule shares.

Compiled code never goes stale
------------------------------
numba's on-disk cache (``cache=True``) keys a kernel on the source of its own file only: a
kernel that calls a borrower rule from :mod:`sim.borrower` (LLVM inlines it) would keep
running the old rule after the rule's file is edited. This module therefore installs a cache
locator (:class:`ProjectCacheLocator`) for the project's files whose source stamp is the
kernel's own file's stamp *plus* a digest of every project file that holds compiled code
(:func:`compiled_sources_digest`). Editing any of them (a rule, a constant the rules read, a
helper below, :mod:`sim.rng`) changes every kernel's stamp, so each kernel is recompiled on
first use instead of loaded stale. Files outside ``sim/`` and ``strategies/`` keep numba's own
locators. The locator is installed through numba's documented ``CACHE_LOCATOR_CLASSES``
setting (``NUMBA_CACHE_LOCATOR_CLASSES``), before any kernel is decorated, unless the user set
that variable; it honours ``NUMBA_CACHE_DIR`` like numba's own locators.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.caching import InTreeCacheLocator, UserProvidedCacheLocator
from numba.extending import intrinsic

from sim.constants import MONTH_DAYS

#: The folders whose compiled code may call each other's functions (the project's packages).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPILED_PACKAGES = ("sim", "strategies")
_digest: str | None = None


def digest_compiled_sources(root: Path, packages: tuple[str, ...]) -> str:
    """SHA-256 over the path and text of every source file under ``root/<package>`` that holds
    compiled code (mentions ``njit``, ``numba`` or ``intrinsic``): what cached kernels were
    compiled from. Shared by the cache locator and ``postloan.warm.clear_stale_caches``, so
    both agree on when the kernels are stale."""
    h = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            data = path.read_bytes()
            if b"njit" in data or b"numba" in data or b"intrinsic" in data:
                h.update(str(path.relative_to(root)).encode() + b"\0" + data)
    return h.hexdigest()


def compiled_sources_digest() -> str:
    """:func:`digest_compiled_sources` of the project, computed once per process."""
    global _digest
    if _digest is None:
        _digest = digest_compiled_sources(PROJECT_ROOT, COMPILED_PACKAGES)
    return _digest


def _in_project(py_file: str) -> bool:
    try:
        rel = Path(py_file).resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        return False
    return rel.parts[0] in COMPILED_PACKAGES


class _ProjectStamp:
    """Mixin: the source stamp of a project file also covers every compiled project file."""

    def get_source_stamp(self):
        return (super().get_source_stamp(), compiled_sources_digest())

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _in_project(py_file):
            return None
        return super().from_function(py_func, py_file)


class ProjectUserDirCacheLocator(_ProjectStamp, UserProvidedCacheLocator):
    """:class:`ProjectCacheLocator` under ``NUMBA_CACHE_DIR`` (when it is set)."""


class ProjectCacheLocator(_ProjectStamp, InTreeCacheLocator):
    """numba's in-tree locator (``__pycache__`` next to the source) with the project stamp."""


_NUMBA_LOCATORS = (
    "UserProvidedCacheLocator,InTreeCacheLocator,UserWideCacheLocator,"
    "IPythonCacheLocator,ZipCacheLocator"
)
if not numba.config.CACHE_LOCATOR_CLASSES and not os.environ.get("NUMBA_CACHE_LOCATOR_CLASSES"):
    numba.config.CACHE_LOCATOR_CLASSES = (
        f"{__name__}.ProjectUserDirCacheLocator,{__name__}.ProjectCacheLocator,{_NUMBA_LOCATORS}"
    )

#: Options of every compiled kernel.
JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: Helpers that take the portfolio's arrays and work on one account: compiled without
#: reference counting. Inlined (numba's ``inline="always"``) they bind every array argument to
#: a new variable, and each binding costs an atomic increment and decrement of the count of the
#: book's one shared buffer, per account and call: about a tenth of a run at a million
#: accounts. Compiled on their own they borrow the caller's arrays (alive for the whole
#: kernel), and LLVM still inlines them into the loop.
ACCOUNT_HELPER = {"_nrt": False, "nogil": True, "error_model": "numpy"}
#: Options of a borrower rule (:mod:`sim.borrower`): an account helper (above) that is also
#: cached, because the Mesa agents call the rules from Python one account at a time, and
#: always inlined into the kernel's loop (LLVM's ``alwaysinline``): left to LLVM's size
#: threshold, a large rule such as ``repayment`` stays a call per account that passes every
#: array argument's fields (some forty values) through the stack.
RULE = {"cache": True, "forceinline": True, **ACCOUNT_HELPER}
#: How many accounts ahead the loops prefetch (covers a DRAM miss at a few ns per account).
AHEAD = 12
#: How many accounts ahead a scan of the whole book prefetches.
SCAN_AHEAD = 32

_local = threading.local()


def as_ids(idx) -> np.ndarray:
    """Account ids as a contiguous int64 array (a boolean mask becomes the ids it selects)."""
    idx = np.asarray(idx)
    if idx.dtype == np.bool_:
        return np.flatnonzero(idx)
    return np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)


def as_values(values, n: int) -> np.ndarray:
    """Per-account values (or one value for all) as a contiguous float64 array of size ``n``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        return np.full(n, float(values))
    return np.ascontiguousarray(values).reshape(-1)


def account_slots(n: int) -> np.ndarray:
    """A zeroed int32 work array of at least ``n`` entries, reused between calls.

    One per thread; kernels that take ``slots`` leave it zeroed.
    """
    arr = getattr(_local, "slots", None)
    if arr is None or arr.size < n:
        arr = np.zeros(max(n, 1), np.int32)
        _local.slots = arr
    return arr


# --------------------------------------------------------------------------- scalar helpers
@intrinsic
def _prefetch_intrinsic(typingctx, arr, i, j):
    """``llvm.prefetch`` of ``arr[i]`` (1-D; ``j`` ignored) or ``arr[i, j]`` (2-D).

    The address is computed from the array's data pointer and strides; no view is made, so no
    reference count is touched (a row view ``arr[i]`` would cost an atomic increment and
    decrement of the shared buffer's count on every call).
    """
    if (
        not isinstance(arr, types.Array)
        or arr.ndim not in (1, 2)
        or not isinstance(i, types.Integer)
        or not isinstance(j, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        aryty, ity, jty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], ity, types.intp)]
        if aryty.ndim == 2:
            inds.append(context.cast(builder, args[2], jty, types.intp))
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape, aryty.ndim),
            strides=cgutils.unpack_tuple(builder, ary.strides, aryty.ndim),
            layout=aryty.layout,
            inds=inds,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read-write prefetch into all cache levels, data cache
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 1),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen


@njit(inline="always")
def prefetch(arr, i):
    """Ask the CPU to start loading ``arr[i]`` (a hint: no effect on any result).

    The day's accounts are scattered over a large book, so each is a cache miss; loops
    prefetch the account a few iterations ahead so that the misses overlap.
    """
    _prefetch_intrinsic(arr, i, 0)


@njit(inline="always")
def prefetch2(arr, i, j):
    """:func:`prefetch` of ``arr[i, j]`` in a 2-D array (without making the row view)."""
    _prefetch_intrinsic(arr, i, j)


@njit(**ACCOUNT_HELPER)
def group_of(i, slots, first, n_groups):
    """Account ``i``'s group (numbered from 1 in order of first sight) and the group count.

    ``slots[i]`` holds the group of an account seen before, 0 otherwise; a new account opens a
    group and is listed in ``first`` (so the caller can clear ``slots`` afterwards).
    """
    s = slots[i]
    if s == 0:
        first[n_groups] = i
        n_groups += 1
        s = n_groups
        slots[i] = s
    return s, n_groups


@njit(**ACCOUNT_HELPER)
def block_sum(a, lo, n):
    """numpy's sum of a block of at most 128 (``a[lo:lo + n]``): left to right below 8, else
    eight accumulators combined pairwise."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@njit(**JIT)
def numpy_sum(a):
    """``numpy.sum`` of a contiguous float64 array, to the last bit, so that a kernel can return
    the totals the engine records. numpy sums pairwise: blocks of up to 128, larger ranges split
    in halves (rounded to multiples of 8) and their sums added; the halving runs here on an
    explicit stack (numba does not link recursive helpers compiled without reference
    counting)."""
    lo_at = np.empty(64, np.int64)
    n_at = np.empty(64, np.int64)
    stage = np.empty(64, np.int64)
    left = np.empty(64)
    top = 0
    lo_at[0], n_at[0], stage[0] = 0, a.size, 0
    value = 0.0
    while top >= 0:
        lo, n = lo_at[top], n_at[top]
        if n <= 128:
            value = block_sum(a, lo, n)
            top -= 1
            continue
        half = n // 2
        half -= half % 8
        if stage[top] == 0:  # the first half next
            stage[top] = 1
            top += 1
            lo_at[top], n_at[top], stage[top] = lo, half, 0
        elif stage[top] == 1:  # the first half's sum is in; the second half next
            left[top] = value
            stage[top] = 2
            top += 1
            lo_at[top], n_at[top], stage[top] = lo + half, n - half, 0
        else:
            value = left[top] + value
            top -= 1
    return 0.0 + value


@njit(inline="always")
def minimum(a, b):
    """``numpy.minimum`` of two floats (NaN propagates from the first)."""
    return a if (a <= b or a != a) else b


@njit(inline="always")
def maximum(a, b):
    """``numpy.maximum`` of two floats (NaN propagates from the first)."""
    return a if (a >= b or a != a) else b


@njit(inline="always")
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(inline="always")
def dpd(day, missed, last_due_day):
    """Days past due: days since the due date of the oldest unpaid instalment."""
    if missed > 0:
        return day - last_due_day + MONTH_DAYS * (missed - 1)
    return 0


@njit(inline="always")
def excitation_now(excitation, excitation_day, day, table, decay_days):
    """The self-exciting intensity decayed to today: ``excitation * exp(-(day - excitation_day)
    / decay_days)``, the factor from ``table = decay_table(decay_days)``."""
    if excitation == 0.0:  # most accounts: nothing to decay (and 0 * exp(.) is 0 exactly)
        return excitation
    return excitation * decay(table, day - excitation_day, decay_days)


#: DPD values whose decay factors the kernels tabulate (beyond: computed as they come).
DECAY_DAYS = 400


@njit(inline="always")
def decay_table(scale):
    """``exp(-d / scale)`` for ``d = 0 .. DECAY_DAYS - 1``, once per call of a kernel; empty
    when ``scale <= 0`` (the factor is off)."""
    if scale <= 0.0:
        return np.empty(0)
    table = np.empty(DECAY_DAYS)
    for d in range(DECAY_DAYS):
        table[d] = math.exp(-d / scale)
    return table


@njit(**ACCOUNT_HELPER)
def decay(table, d, scale):
    """``exp(-d / scale)``: from the table where it has ``d`` (the very same number)."""
    if 0 <= d < table.size:
        return table[d]
    return math.exp(-d / scale)


@njit(**ACCOUNT_HELPER)
def decay_at(tables, row, d, scale):
    """``exp(-d / scale)`` from row ``row`` of ``tables`` where it has day ``d`` (the very same
    number), computed otherwise (``sim.borrower.params.decay_tables``).

    Callers pass ``row`` and ``d`` as int64 (``np.int64(ROW)``): a constant row would be typed
    as a literal and compile one version per row and caller.
    """
    if 0 <= d < tables.shape[1]:
        return tables[row, d]
    return math.exp(-d / scale)
