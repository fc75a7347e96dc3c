"""The ``behaviour:`` section of a scenario: every parameter of the daily borrower model
(:mod:`sim.borrower`; docs/behaviour.md states the equations). Split from :mod:`sim.scenario`,
which re-exports :class:`Behaviour`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.spec_base import Spec as _Spec


class Behaviour(_Spec):
    """Parameters of the daily borrower model (see docs/behaviour.md for the equations).

    The calibration additions (``prepayment_monthly`` .. ``recovery_settlement``; the section
    "Calibration additions" of docs/behaviour.md) fit the model to real monthly status panels:
    prepayment of current accounts, instalments paid in arrears (one, and two or more behind,
    with a stage trend), settlements of delinquent loans (rising with DPD if asked), full
    payments that turn partial late in arrears, catch-up payments back to one instalment
    behind, a rest after a partial payment, and settlement of charged-off debt when a
    successful recovery arrives. Each is off at its default, and off means the engine runs
    exactly as without it (no draw, same results bit for bit).
    """

    mode: Literal["model", "markov"] = "model"
    roll_matrix: list[list[float]] | None = Field(
        default=None,
        description="markov test mode: monthly transition matrix over current, 1-30, 31-60, "
        "61-90, 91-120, charged_off, paid_off (7 x 7, rows sum to 1)",
    )
    # due-date payment (logit of missing an instalment)
    miss_intercept: float = -3.8
    miss_willingness: float = Field(default=1.1, ge=0)
    miss_hardship: float = Field(default=2.6, ge=0)
    miss_dti: float = Field(default=2.0, ge=0)
    miss_restructured: float = Field(default=0.8, ge=0)
    # hardship spells
    hardship_spell_days: float = Field(default=120.0, gt=0)
    # delinquent repayment intensity (per day)
    base_intensity: float = Field(default=0.4, ge=0)
    intensity_willingness: float = Field(default=0.5, ge=0)
    intensity_dpd_scale: float = Field(default=10.0, gt=0, description="e-folding DPD of intensity")
    intensity_hardship: float = Field(default=0.3, ge=0, le=1, description="multiplier in hardship")
    contact_effect_dpd_scale: float = Field(
        default=10.0, gt=0, description="e-folding DPD of the effect of a contact"
    )
    excitation_decay_days: float = Field(default=6.0, gt=0)
    payment_excitation: float = Field(default=0.03, ge=0)
    full_payment_share: float = Field(default=0.75, ge=0, le=1)
    full_payment_share_hardship: float = Field(default=0.3, ge=0, le=1)
    partial_fraction_low: float = Field(default=0.2, ge=0, le=1)
    partial_fraction_high: float = Field(default=0.6, ge=0, le=1)
    # promises
    promise_keep: float = Field(default=0.8, ge=0, le=1)
    promise_keep_hardship: float = Field(default=0.45, ge=0, le=1)
    promise_days_max: int = Field(default=7, ge=1, le=60)
    # irritation, complaints, churn
    irritation_half_life_days: float = Field(default=10.0, gt=0)
    complaint_rate: float = Field(default=0.02, ge=0, le=1)
    churn_rate: float = Field(default=0.03, ge=0, le=1)
    # fees
    late_fee: float = Field(default=15.0, ge=0)
    # Calibration additions (docs/behaviour.md, "Calibration additions"). Each defaults to off,
    # and off takes exactly the code path (and floating-point operations) of a book without it.
    prepayment_monthly: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a current account paying on its due date pays off the whole "
        "loan (closed as paid_off)",
    )
    delinquent_instalment_pay: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a delinquent account pays the instalment falling due on its due "
        "date (and its fees), staying the same number of instalments behind",
    )
    delinquent_instalment_pay_late: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the same chance for accounts two or more instalments behind; None: "
        "delinquent_instalment_pay at every stage",
    )
    delinquent_instalment_pay_slope: float = Field(
        default=0.0,
        ge=-5,
        le=5,
        description="with delinquent_instalment_pay_late set: the chance k >= 2 instalments "
        "behind is delinquent_instalment_pay_late * exp(slope (k - 2)), capped at 1",
    )
    settlement_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a delinquent account's full payment settles the whole loan "
        "(principal not yet due included; closed as paid_off)",
    )
    settlement_dpd_scale: float | None = Field(
        default=None,
        gt=0,
        description="None: settlement_share at any DPD; else the chance rises with DPD as "
        "1 - (1 - settlement_share) exp(-dpd / scale) (late-stage full payments are settlements)",
    )
    catch_up_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a partial payment is a catch-up: everything overdue but the "
        "newest instalment, so the account falls back to one instalment behind",
    )
    rest_after_partial: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that an account that made a partial payment pays nothing more (kept "
        "promises aside) for 30 days: at most one payment a cycle",
    )
    reage_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that an account two or more instalments behind that pays the "
        "instalment falling due is re-aged by a payment arrangement: it also pays its fees and "
        "interest in arrears, its principal in arrears is added to the balance and it is current",
    )
    write_off_monthly: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance per due date that a current account is written off at once "
        "(bankruptcy, death, fraud): it misses and is charged off the next morning",
    )
    full_payment_dpd_scale: float | None = Field(
        default=None,
        gt=0,
        description="None: off; else a full payment that does not settle stays full with chance "
        "exp(-dpd / scale), else it is partial: late-stage payments are mostly partial",
    )
    recovery_settlement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a successful post-charge-off recovery (not a debt sale) settles "
        "the account when its cash arrives: the account leaves charged_off for paid_off",
    )
    # a medical-expense shock (sim.borrower.hardship.medical_shock); off at 0, no draw then
    medical_shock_monthly: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance per due date of a medical-expense shock: the borrower is in hardship "
        "from that day (its usual spell follows)",
    )
    medical_shock_miss_push: float = Field(
        default=0.0,
        ge=0,
        description="added to the miss logit of the due date on which a shock happens",
    )
    # payment shock (sim.borrower.payment_shock); off at 0
    miss_payment_shock: float = Field(
        default=0.0,
        ge=0,
        le=5,
        description="elasticity of the miss odds to the instalment over the borrower's capacity "
        "(the annuity payment of the loan's original terms): the odds are multiplied by "
        "(instalment / capacity) ** miss_payment_shock",
    )
    # response model (sim/borrower/response.py; docs/behaviour.md "Response to contact"); each
    # is off at its default and the engine then runs exactly as without it
    forgetful_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of borrowers who forget due dates (a fixed trait per account): only "
        "their misses out of hardship can be prevented by a reminder",
    )
    reminder_recall: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of a forgetful borrower's misses out of hardship that a contact "
        "reaching the borrower within reminder_window_days before the due date prevents",
    )
    reminder_window_days: int = Field(
        default=7,
        ge=1,
        le=30,
        description="days before a due date within which a contact that reached a current "
        "borrower counts as a reminder",
    )
    contact_saturation: float = Field(
        default=0.0,
        ge=0,
        description="0: off; else a contact adds its excitation jump times S / (S + E), E the "
        "excitation already there: diminishing returns to repeated contact",
    )
    promise_dpd_scale: float | None = Field(
        default=None,
        gt=0,
        description="None: off; else the chance a promise is kept is times exp(-dpd / scale) "
        "(dpd when it falls due): promises weaken with DPD",
    )
    promise_displacement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance per day that a borrower with a promise pending makes no payment of "
        "its own but waits for the promised day: a promise displaces payments it would have made",
    )

    @model_validator(mode="after")
    def _markov(self) -> Behaviour:
        if self.mode == "markov":
            m = self.roll_matrix
            if m is None or len(m) != 7 or any(len(r) != 7 for r in m):
                raise ValueError("markov mode needs a 7 x 7 roll_matrix")
            for i, row in enumerate(m):
                if any(p < 0 or p > 1 for p in row):
                    raise ValueError(f"roll_matrix row {i}: probabilities must be in [0, 1]")
                if abs(sum(row) - 1) > 1e-9:
                    raise ValueError(f"roll_matrix row {i} must sum to 1")
                if i <= 4 and any(row[j] > 0 for j in range(i + 2, 5)):
                    raise ValueError(
                        f"roll_matrix row {i}: an account can move at most one bucket up a "
                        "month (one instalment falls due a month)"
                    )
                if i >= 5 and row[i] != 1:
                    raise ValueError(f"roll_matrix row {i} is absorbing: 1 on the diagonal")
        if self.partial_fraction_low > self.partial_fraction_high:
            raise ValueError("partial_fraction_low must not exceed partial_fraction_high")
        return self
