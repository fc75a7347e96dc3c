"""The outcome registry: every KPI's name, label, unit, better direction and definition, once.

Modelled on EMA Workbench's ``ScalarOutcome(name, kind=MAXIMIZE | MINIMIZE | INFO)``: the
comparison tables, the verdicts, the reports, the experiment-file check and the optimiser's
verification all read the direction of a KPI here, so "is more churn worse?" has one answer.

Names are the keys of a run's ``summary.json`` (``sim.kpis.summarise``) as they appear in the
flat tables (``cells.parquet``, the ``runs`` view of ``postloan query``): nested summaries are
*families* whose members are flattened with ``_`` (``contacts_call``, ``cost_by_channel_sms``,
``roll_rates_current_1_30``).

It lives in ``sim`` (next to the KPIs it describes) so that ``optimizer`` and ``postloan`` can
both use it; it imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Which way is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"
    INFO = "info"  # no better direction: described, never called better or worse


@dataclass(frozen=True)
class Outcome:
    """One KPI.

    Attributes
    ----------
    name : str
        Column name in summaries and tables.
    label : str
        Readable name for tables and reports.
    unit : str
        ``money`` (the scenario's currency), ``share`` (0..1, shown as %), ``count``,
        ``accounts`` or ``days``.
    kind : Kind
        Better direction.
    definition : str
        What is counted, in one sentence.
    family : bool
        A nested summary whose members are named ``<name>_<member>`` in flat tables.
    """

    name: str
    label: str
    unit: str
    kind: Kind
    definition: str
    family: bool = False

    @property
    def direction(self) -> str:
        """``higher``, ``lower`` or ``neutral`` (the word the comparison tables use)."""
        return {Kind.MAXIMIZE: "higher", Kind.MINIMIZE: "lower"}.get(self.kind, "neutral")

    @property
    def is_rate(self) -> bool:
        return self.unit == "share"


_MAX, _MIN, _INFO = Kind.MAXIMIZE, Kind.MINIMIZE, Kind.INFO

_TABLE: tuple[tuple[str, str, str, Kind, str], ...] = (
    (
        "net_value",
        "net value",
        "money",
        _MAX,
        "the priced objective: net recovery less lifetime value and interest margin lost to "
        "churn, complaint cost and relationship-lever cost (prepaid principal is not income)",
    ),
    ("net_recovery", "net recovery", "money", _MAX, "collected less cost"),
    ("collected", "collected cash", "money", _MAX, "cash from accounts in arrears and recoveries"),
    (
        "collected_delinquent",
        "collected before charge-off",
        "money",
        _MAX,
        "cash paid by delinquent accounts before charge-off",
    ),
    ("collected_recovery", "recoveries", "money", _MAX, "cash recovered after charge-off"),
    ("cost", "collection cost", "money", _MIN, "contacts, staff and recovery costs"),
    (
        "cure_rate",
        "cure rate",
        "share",
        _MAX,
        "delinquency episodes that ended with the account current again",
    ),
    ("self_cure_share", "self-cure share", "share", _INFO, "cures that happened without contact"),
    (
        "new_delinquent",
        "new delinquencies",
        "accounts",
        _MIN,
        "accounts that missed an instalment during the run",
    ),
    (
        "monthly_new_delinquency_rate",
        "monthly new delinquency rate",
        "share",
        _MIN,
        "new delinquencies per current account, monthly mean",
    ),
    (
        "delinquency_rate_30p",
        "delinquency rate (30+ DPD)",
        "share",
        _MIN,
        "balance 30+ days past due over open balance, last day",
    ),
    (
        "delinquency_rate_30p_mean",
        "delinquency rate (30+ DPD), mean",
        "share",
        _MIN,
        "daily 30+ DPD balance share, mean over the run",
    ),
    (
        "npl_ratio_90p",
        "NPL ratio (90+ DPD)",
        "share",
        _MIN,
        "balance 90+ days past due over open balance, last day",
    ),
    (
        "npl_ratio_90p_mean",
        "NPL ratio (90+ DPD), mean",
        "share",
        _MIN,
        "daily 90+ DPD balance share, mean over the run",
    ),
    ("charge_offs", "charge-offs", "accounts", _MIN, "accounts charged off"),
    ("charge_off_amount", "charged-off balance", "money", _MIN, "balance charged off"),
    ("net_credit_loss", "net credit loss", "money", _MIN, "charged-off balance less recoveries"),
    (
        "recovery_beyond_horizon",
        "recovery beyond the horizon",
        "money",
        _INFO,
        "expected recoveries of charged-off accounts still in progress at the end",
    ),
    ("restructures", "restructures", "accounts", _MAX, "hardship plans taken up"),
    ("churned", "churned customers", "accounts", _MIN, "customers who left, irritated"),
    (
        "lifetime_value_lost",
        "lifetime value lost",
        "money",
        _MIN,
        "customer lifetime value of the churned customers",
    ),
    (
        "interest_margin_lost",
        "interest margin lost",
        "money",
        _MIN,
        "interest less cost of funds the loans of churned customers would still have earned",
    ),
    (
        "churn_departures",
        "churned accounts closed",
        "accounts",
        _MIN,
        "churned customers whose loan prepaid and closed once current",
    ),
    (
        "closures_after_cure",
        "closures after a cure",
        "accounts",
        _MIN,
        "churned accounts in arrears when they churned that cured and then closed",
    ),
    (
        "prepaid_on_churn",
        "prepaid by churned customers",
        "money",
        _INFO,
        "principal prepaid by churned customers (the lender's money back early, not income)",
    ),
    ("complaints", "complaints", "count", _MIN, "complaints raised by contacted borrowers"),
    (
        "complaint_cost",
        "complaint cost",
        "money",
        _MIN,
        "complaints times their handling and regulatory price (scenario economics)",
    ),
    (
        "lever_cost",
        "relationship-lever cost",
        "money",
        _MIN,
        "cost of relationship levers (loyalty rebates, counselling, follow-up calls)",
    ),
    (
        "compliance_breaches",
        "compliance breaches",
        "count",
        _MIN,
        "contacts that broke a compliance rule (0 when the engine enforces them)",
    ),
    ("promises_made", "promises made", "count", _INFO, "promises to pay made"),
    ("promises_kept", "promises kept", "count", _MAX, "promises to pay kept"),
    ("promises_broken", "promises broken", "count", _MIN, "promises to pay broken"),
    # the optimiser's verification splits net recovery at charge-off
    (
        "net_before_charge_off",
        "net recovery before charge-off",
        "money",
        _MAX,
        "collected before charge-off less contact and staff cost",
    ),
    (
        "net_after_charge_off",
        "net recovery after charge-off",
        "money",
        _MAX,
        "recoveries less recovery cost",
    ),
    (
        "cost_contact_and_staff",
        "contact and staff cost",
        "money",
        _MIN,
        "cost less the recovery cost",
    ),
    ("cost_recovery", "recovery cost", "money", _MIN, "agency, legal and debt-sale costs"),
    (
        "scheduled_cash",
        "scheduled instalments",
        "money",
        _INFO,
        "instalments paid on time by current accounts (not in net recovery)",
    ),
)

_FAMILIES: tuple[tuple[str, str, str, Kind, str], ...] = (
    ("cost_by_channel", "cost by channel", "money", _MIN, "cost per channel, staff, recovery"),
    ("contacts", "contact attempts", "count", _INFO, "contact attempts per channel"),
    (
        "right_party_contacts",
        "right-party contacts",
        "count",
        _INFO,
        "conversations with the borrower per channel",
    ),
    (
        "unserved",
        "unserved requests",
        "count",
        _MIN,
        "requested contacts that staff capacity could not serve, per channel",
    ),
    (
        "compliance",
        "dropped by compliance",
        "count",
        _INFO,
        "requested contacts the compliance rules dropped, per reason",
    ),
    ("roll_rates", "roll rate", "share", _INFO, "monthly roll rate from one DPD bucket to another"),
    (
        "recovery_rates",
        "recovery rates",
        "share",
        _INFO,
        "shape of the recovery-rate distribution of charged-off accounts",
    ),
)

#: Every outcome by name (families included, under their prefix).
OUTCOMES: dict[str, Outcome] = {
    **{n: Outcome(n, lab, u, k, d) for n, lab, u, k, d in _TABLE},
    **{n: Outcome(n, lab, u, k, d, family=True) for n, lab, u, k, d in _FAMILIES},
}

#: Inputs and machine measurements: columns of a summary that are not outcomes.
NOT_OUTCOMES = frozenset({"accounts", "days", "seed", "shards", "wall_seconds",
                          "account_days_per_second"})  # fmt: skip


def outcome(name: str) -> Outcome | None:
    """The outcome of a column name: exact, else the family it belongs to (longest prefix)."""
    if name in OUTCOMES:
        return OUTCOMES[name]
    best = None
    for o in OUTCOMES.values():
        if (
            o.family
            and name.startswith(o.name + "_")
            and (best is None or len(o.name) > len(best.name))
        ):
            best = o
    return best


def direction(name: str) -> str:
    """``higher`` or ``lower`` is better, or ``neutral`` (unknown columns are neutral)."""
    o = outcome(name)
    return o.direction if o is not None else "neutral"


def is_rate(name: str) -> bool:
    """Whether a column is a share (shown as a percentage, differences in points)."""
    o = outcome(name)
    if o is not None:
        return o.is_rate
    return "rate" in name or "ratio" in name or name.endswith("share")


def label(name: str) -> str:
    """The readable label of a column (family members get their member appended)."""
    o = outcome(name)
    if o is None:
        return name
    if o.family and name != o.name:
        return f"{o.label}: {name[len(o.name) + 1 :].replace('_', ' ')}"
    return o.label


def check_names(names: list[str], where: str) -> None:
    """Refuse names that are not outcomes: ``ValueError`` listing the allowed ones.

    Family members are accepted as ``<family>_<member>`` (``contacts_call``).
    """
    unknown = [n for n in names if outcome(n) is None or n in NOT_OUTCOMES]
    if unknown:
        plain = ", ".join(o.name for o in OUTCOMES.values() if not o.family)
        fams = ", ".join(f"{o.name}_<part>" for o in OUTCOMES.values() if o.family)
        raise ValueError(
            f"{where}: unknown KPI{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}; allowed: {plain}; and per part: {fams}"
        )


#: Outcomes shown first (CLI tables, reports) when nothing else is asked for.
HEADLINE_KPIS: tuple[str, ...] = (
    "net_value",
    "net_recovery",
    "collected",
    "cost",
    "cure_rate",
    "delinquency_rate_30p",
    "npl_ratio_90p",
    "net_credit_loss",
    "churned",
    "lifetime_value_lost",
    "interest_margin_lost",
    "complaints",
    "compliance_breaches",
    "promises_kept",
)

#: The priced objectives a comparison decides on, most complete first: ``net_value`` (net
#: recovery with churn and the other side effects priced in) once the registry has it, net
#: recovery until then. :func:`objective` picks the first one registered.
OBJECTIVES: tuple[str, ...] = ("net_value", "net_recovery")

#: What a winner on the objective may cost elsewhere: shown next to every verdict.
TRADE_OFF_KPIS: tuple[str, ...] = ("cost", "churned", "complaints")


def objective() -> str:
    """The priced objective: the first of :data:`OBJECTIVES` in the registry."""
    return next(n for n in OBJECTIVES if n in OUTCOMES)


def unit(name: str, currency: str = "USD") -> str:
    """The unit a column is shown in: the currency for money, ``%`` for shares, else the
    registry's unit (``accounts``, ``count``, ``days``); empty for unknown columns."""
    o = outcome(name)
    if o is None:
        return ""
    return {"money": currency, "share": "%"}.get(o.unit, o.unit)


def definition(name: str) -> str:
    """The registry's one-sentence definition of a column (empty for unknown columns)."""
    o = outcome(name)
    return "" if o is None else o.definition


#: The priced objective: what the verdicts of comparisons and the optimiser speak about.
OBJECTIVE = objective()
