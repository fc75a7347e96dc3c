"""Re-ageing: a delinquent account brought back to current by a payment arrangement.

Card lenders re-age accounts that resume paying under an arrangement: the borrower pays the
instalment falling due with the fees and interest in arrears, the principal in arrears is added
to the balance (the loan re-amortised over its remaining term: ``sim.kernels.ledger.reage_one``)
and the account is reported current, although it never paid its arrears. Status panels show it
as moves from the late buckets straight back to current that no partial payment explains.
"""

from __future__ import annotations

from numba import njit

from sim.jit import RULE
from sim.rng import Stream, uniform_at

_REAGE = int(Stream.REAGE)
#: Instalments behind from which an arrangement may re-age an account: one behind, paying the
#: new instalment with the arrears is a cure (:mod:`sim.borrower.repayment`), not a re-ageing.
REAGE_FROM = 2


@njit(**RULE)
def reages(prm, off, i, behind):
    """Is account ``i``, ``behind`` instalments in arrears and paying the instalment falling due
    (:func:`sim.borrower.due_date.pays_arrears_instalment`), re-aged? Chance ``reage_share``
    from :data:`REAGE_FROM` behind (stream ``REAGE``; no draw when 0 or fewer behind)."""
    chance = prm[0].reage_share
    return chance > 0.0 and behind >= REAGE_FROM and uniform_at(off[_REAGE], i) < chance
