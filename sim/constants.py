"""Constants shared by the book, the borrower rules, the ledger and compliance.

A leaf module: it imports nothing from the project, so every other module of :mod:`sim` (and the
compiled kernels) can take its constants from here without importing each other in a circle.
"""

from __future__ import annotations

from enum import IntEnum

#: "Never happened" for day stamps; far enough back that any window test is false.
NEVER = -(10**6)
#: Days of a month in the engine's 30-day calendar.
MONTH_DAYS = 30
#: Amounts below this (USD) are rounding dust, not debt.
CENT = 0.005
#: Length of the per-account ring of recent call-attempt days (the 7-in-7 rule needs 7).
CALL_RING = 7
#: Draw counter stride between attempts on one account, channel and day (attempt 0 keeps the
#: plain ``account * channels + channel`` counter).
ATTEMPT_STRIDE = 1 << 40
#: Latent scale of the mean borrower's willingness, the centre of the behaviour equations.
WILLINGNESS_CENTRE = 1.5
#: Debt-to-income at which the miss logit's DTI term is zero.
DTI_CENTRE = 0.35


class Status(IntEnum):
    """Lifecycle of an account."""

    OPEN = 0
    CHARGED_OFF = 1
    PAID_OFF = 2
