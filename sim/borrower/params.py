"""Parameter records of the borrower rules, built once per run from the validated scenario.

The rules take numpy structured arrays, not argument lists or jitclasses (numba's on-disk cache
does not work with jitclass arguments): :func:`behaviour_record` (one record: the behaviour and
restructuring parameters), :func:`channel_records` (one record per channel),
:func:`decay_tables` (the exponential decay factors the rules read, tabulated once) and
:func:`day_offsets` (the day's counter offset of every random stream). The kernels hand the
rules a private copy of the behaviour record (:func:`behaviour_values`).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from sim.jit import DECAY_DAYS, JIT
from sim.rng import Stream, stream_offset

#: Fields of the behaviour record (all float64), in order.
BEHAVIOUR_FIELDS: tuple[str, ...] = (
    # hardship and the due date
    "hardship_spell_days",
    "miss_intercept",
    "miss_willingness",
    "miss_hardship",
    "miss_dti",
    "miss_restructured",
    "late_fee",
    "prepayment_monthly",
    "delinquent_instalment_pay",
    "delinquent_instalment_pay_late",  # -1: the same as delinquent_instalment_pay
    "delinquent_instalment_pay_slope",
    "medical_shock_monthly",
    "medical_shock_miss_push",
    "miss_payment_shock",
    # repayment intensity and payments
    "base_intensity",
    "intensity_willingness",
    "intensity_dpd_scale",
    "intensity_hardship",
    "excitation_decay_days",
    "payment_excitation",
    "contact_effect_dpd_scale",
    "full_payment_share",
    "full_payment_share_hardship",
    "partial_fraction_low",
    "partial_fraction_high",
    "full_payment_dpd_scale",  # 0: off
    "settlement_share",
    "settlement_dpd_scale",  # 0: off
    "catch_up_share",
    "rest_after_partial",
    # re-ageing and write-offs of current accounts (sim.borrower.reageing)
    "reage_share",
    "write_off_monthly",
    # promises, irritation
    "promise_keep",
    "promise_keep_hardship",
    "promise_days_max",
    "irritation_half_life_days",
    "complaint_rate",
    "churn_rate",
    # response model (sim.borrower.response)
    "forgetful_share",
    "reminder_recall",
    "reminder_window_days",
    "contact_saturation",
    "promise_dpd_scale",  # 0: off
    "promise_displacement",
    # restructuring (scenario.restructuring)
    "take_up",
    "take_up_no_hardship",
    "extension_months",
    "take_up_current",
    "plan_relief",
)
BEHAVIOUR = np.dtype([(name, "f8") for name in BEHAVIOUR_FIELDS])
#: ``None`` in the scenario (off) becomes this value in the record.
_OFF_AS = {
    "delinquent_instalment_pay_late": -1.0,
    "full_payment_dpd_scale": 0.0,
    "settlement_dpd_scale": 0.0,
    "promise_dpd_scale": 0.0,
}
_RESTRUCTURING = (
    "take_up",
    "take_up_no_hardship",
    "extension_months",
    "take_up_current",
    "plan_relief",
)

#: One record per channel code.
CHANNEL = np.dtype(
    [
        ("reach", "f8"),
        ("trait", "i8"),  # the borrower's reachability trait the channel uses
        ("cost_attempt", "f8"),
        ("cost_contact", "f8"),
        ("effect", "f8"),
        ("promise_rate", "f8"),
        ("irritation", "f8"),
        ("conversation", "?"),  # a right-party contact on it is a conversation with a person
    ]
)

#: Rows of :func:`decay_tables`.
INTENSITY_FADE = 0  # exp(-dpd / intensity_dpd_scale)
SETTLEMENT_FADE = 1  # exp(-dpd / settlement_dpd_scale)
FULL_PAYMENT_FADE = 2  # exp(-dpd / full_payment_dpd_scale)
EXCITATION_DECAY = 3  # exp(-days / excitation_decay_days)
CONTACT_FADE = 4  # exp(-dpd / contact_effect_dpd_scale)
IRRITATION_DECAY = 5  # exp(-ln 2 days / irritation_half_life_days)
N_TABLES = 6
#: ``-log(2)``: the irritation stock halves every half-life.
NEG_LN2 = -math.log(2.0)

#: Entry of :func:`day_offsets` holding the run's key (stream ids start at 1).
RUN_KEY = 0
N_OFFSETS = max(int(s) for s in Stream) + 1


def behaviour_record(scenario) -> np.ndarray:
    """The behaviour and restructuring parameters of ``scenario`` as one record (an array of
    one :data:`BEHAVIOUR` record, which compiled code reads as ``prm[0].name``)."""
    out = np.zeros(1, BEHAVIOUR)
    b, r = scenario.behaviour, scenario.restructuring
    for name in BEHAVIOUR_FIELDS:
        value = getattr(r if name in _RESTRUCTURING else b, name)
        out[name] = _OFF_AS[name] if value is None else float(value)
    return out


@intrinsic
def behaviour_values(typingctx, prm):
    """The behaviour record ``prm`` (:func:`behaviour_record`) copied into the calling
    kernel's stack frame: an array of the same type (the rules read it the same way and
    compile once for both), whose one record lives in memory no book array can share.

    Kernels call it once, before their loop over accounts, and pass the copy to the rules.
    Read from the run's record, each parameter is a load from memory that the loop must
    repeat after every store to the book (LLVM cannot tell the arrays apart); read from the
    private copy, LLVM keeps the parameters in registers, and what the rules compute from
    parameters alone (``1 / hardship_spell_days``) is computed once per call instead of once
    per account. An intrinsic, so the copy is made in the caller's frame: the returned array
    is valid only inside the kernel that made it (never return or store it).
    """
    if not (isinstance(prm, types.Array) and prm.ndim == 1 and isinstance(prm.dtype, types.Record)):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = context.make_array(aryty)(context, builder, args[0])
        size = aryty.dtype.size
        byte_ptr = ir.IntType(8).as_pointer()
        buf = cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(8), size))
        cgutils.raw_memcpy(
            builder,
            builder.bitcast(buf, byte_ptr),
            builder.bitcast(src.data, byte_ptr),
            context.get_constant(types.intp, 1),
            size,
        )
        out = context.make_array(aryty)(context, builder)
        intp = context.get_constant
        populate_array(
            out,
            data=builder.bitcast(buf, src.data.type),
            shape=cgutils.pack_array(builder, [intp(types.intp, 1)]),
            strides=cgutils.pack_array(builder, [intp(types.intp, size)]),
            itemsize=intp(types.intp, size),
            meminfo=None,
        )
        return out._getvalue()

    return prm(prm), codegen


def channel_records(
    reach, trait, cost_attempt, cost_contact, effect, promise_rate, irritation, conversation
):
    """One :data:`CHANNEL` record per channel code, from the channel table's arrays."""
    out = np.zeros(len(reach), CHANNEL)
    out["conversation"] = conversation
    out["reach"], out["trait"] = reach, trait
    out["cost_attempt"], out["cost_contact"] = cost_attempt, cost_contact
    out["effect"], out["promise_rate"], out["irritation"] = effect, promise_rate, irritation
    return out


@njit(**JIT)
def _fill_decay(table, row, scale):
    for d in range(DECAY_DAYS):
        table[row, d] = math.exp(-d / scale)


@njit(**JIT)
def _fill_half_life(table, row, half_life):
    for d in range(DECAY_DAYS):
        table[row, d] = math.exp(NEG_LN2 * d / half_life)


def decay_tables(prm: np.ndarray) -> np.ndarray:
    """``(N_TABLES, DECAY_DAYS)`` decay factors for whole days ``d = 0 .. DECAY_DAYS - 1``
    (row ``IRRITATION_DECAY``: ``exp(-ln 2 d / half_life)``; the others ``exp(-d / scale)``
    with their scale; a row whose scale is off (0) is never read). Rules read a factor from
    its row where the table has the day and compute it otherwise, the very same number."""
    b = prm[0]
    table = np.zeros((N_TABLES, DECAY_DAYS))
    scales = (
        (INTENSITY_FADE, b["intensity_dpd_scale"]),
        (SETTLEMENT_FADE, b["settlement_dpd_scale"]),
        (FULL_PAYMENT_FADE, b["full_payment_dpd_scale"]),
        (EXCITATION_DECAY, b["excitation_decay_days"]),
        (CONTACT_FADE, b["contact_effect_dpd_scale"]),
    )
    for row, scale in scales:
        if scale > 0:
            _fill_decay(table, row, float(scale))
    _fill_half_life(table, IRRITATION_DECAY, float(b["irritation_half_life_days"]))
    return table


@njit(**JIT)
def day_offsets(key, day):
    """The counter offset of every stream for ``day`` (``sim.rng.stream_offset``), indexed by
    stream id; entry :data:`RUN_KEY` holds the key itself (for draws dated another day)."""
    out = np.empty(N_OFFSETS, np.uint64)
    out[RUN_KEY] = np.uint64(key)
    for s in range(1, N_OFFSETS):
        out[s] = stream_offset(key, s, day)
    return out
