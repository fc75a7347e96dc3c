"""Effects with confidence intervals on a study's scale, and the transportability check.

Per-account outcomes from all replications are pooled (each replication is a fresh book drawn
with its own seed, so accounts are independent across replications; within one, arms share staff
capacity as they would in the field). Intervals are normal-theory at ``level`` (95 % by default):

* ``absolute``: the difference of means ``mean_T - mean_C`` (percentage points for a 0/1
  outcome), standard error ``sqrt(s_T^2 / n_T + s_C^2 / n_C)`` with the per-account variances;
* ``relative``: ``100 * (mean_T / mean_C - 1)`` with the delta-method interval on the log of the
  ratio, ``se(log R)^2 = s_T^2 / (n_T mean_T^2) + s_C^2 / (n_C mean_C^2)``, transformed back
  (so it is asymmetric and never below -100 %);
* ``per_contact`` (the Wald / instrumental-variable estimator): the effect of a conversation held,
  ``(mean_T(y) - mean_C(y)) / (mean_T(d) - mean_C(d))`` with ``d`` = a right-party conversation
  in the window, standard error by the delta method including the covariance of ``y`` and ``d``.

The control arm transports when its rate is within ``z * sqrt(se_study^2 + se_sim^2)`` of the
published control rate, ``se_study`` being the binomial standard error at the study's control-arm
size (``sd / sqrt(n)`` for an amount) and ``se_sim`` the simulated control mean's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

#: Confidence level of every interval.
LEVEL = 0.95
#: A first stage (share with a conversation, treatment minus control) below this many standard
#: errors makes the Wald estimate unreliable: it is reported as a weak instrument.
WEAK_FIRST_STAGE_T = 3.0


@dataclass(frozen=True)
class Estimate:
    """An effect and its interval, on the study's scale.

    ``unit`` is ``pp`` (percentage points), ``%`` (relative) or ``amount``.
    """

    effect: float
    low: float
    high: float
    se: float
    unit: str
    treatment_mean: float
    control_mean: float
    n_treatment: int
    n_control: int
    first_stage: float | None = None  # per_contact: difference in the share with a conversation
    first_stage_se: float | None = None

    @property
    def weak_instrument(self) -> bool:
        if self.first_stage is None:
            return False
        return not abs(self.first_stage) > WEAK_FIRST_STAGE_T * (self.first_stage_se or 0.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weak_instrument"] = self.weak_instrument
        return d


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def _moments(y: np.ndarray) -> tuple[float, float, int]:
    """Mean, variance of the mean, count."""
    n = int(y.size)
    if n < 2:
        raise ValueError("an arm needs at least two accounts for a variance")
    return float(y.mean()), float(y.var(ddof=1)) / n, n


def difference(
    y_t: np.ndarray,
    y_c: np.ndarray,
    scale: str,
    binary: bool,
    level: float = LEVEL,
) -> Estimate:
    """Treatment minus control on the ``absolute`` or ``relative`` scale (see module doc)."""
    m_t, v_t, n_t = _moments(np.asarray(y_t, float))
    m_c, v_c, n_c = _moments(np.asarray(y_c, float))
    z = _z(level)
    if scale == "absolute":
        k = 100.0 if binary else 1.0
        se = math.sqrt(v_t + v_c)
        eff = m_t - m_c
        return Estimate(
            k * eff, k * (eff - z * se), k * (eff + z * se), k * se,
            "pp" if binary else "amount", m_t, m_c, n_t, n_c,
        )  # fmt: skip
    if scale != "relative":
        raise ValueError(f"unknown scale {scale!r}")
    if m_t <= 0 or m_c <= 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, "%", m_t, m_c, n_t, n_c)
    log_r = math.log(m_t / m_c)
    se_log = math.sqrt(v_t / m_t**2 + v_c / m_c**2)
    return Estimate(
        100.0 * (math.exp(log_r) - 1),
        100.0 * (math.exp(log_r - z * se_log) - 1),
        100.0 * (math.exp(log_r + z * se_log) - 1),
        100.0 * math.exp(log_r) * se_log,  # delta-method SE of the ratio, in %
        "%", m_t, m_c, n_t, n_c,
    )  # fmt: skip


def wald(
    y_t: np.ndarray,
    d_t: np.ndarray,
    y_c: np.ndarray,
    d_c: np.ndarray,
    binary: bool,
    level: float = LEVEL,
) -> Estimate:
    """The effect per conversation held: ITT on ``y`` over ITT on ``d`` (see module doc)."""
    y_t, d_t, y_c, d_c = (np.asarray(a, float) for a in (y_t, d_t, y_c, d_c))
    m_t, vy_t, n_t = _moments(y_t)
    m_c, vy_c, n_c = _moments(y_c)
    e_t, vd_t, _ = _moments(d_t)
    e_c, vd_c, _ = _moments(d_c)
    cov = np.cov(y_t, d_t)[0, 1] / n_t + np.cov(y_c, d_c)[0, 1] / n_c
    num, den = m_t - m_c, e_t - e_c
    den_se = math.sqrt(vd_t + vd_c)
    k = 100.0 if binary else 1.0
    unit = "pp" if binary else "amount"
    if den == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, unit, m_t, m_c, n_t, n_c, 0.0, den_se)
    beta = num / den
    var = (vy_t + vy_c - 2 * beta * cov + beta**2 * (vd_t + vd_c)) / den**2
    se = math.sqrt(max(var, 0.0))
    z = _z(level)
    return Estimate(
        k * beta, k * (beta - z * se), k * (beta + z * se), k * se,
        unit, m_t, m_c, n_t, n_c, den, den_se,
    )  # fmt: skip


@dataclass(frozen=True)
class Transport:
    """Does the simulated control arm reproduce the study's control rate?"""

    checked: bool
    transportable: bool
    simulated: float
    published: float | None
    tolerance: float | None  # the allowed |simulated - published|
    se_study: float | None
    se_sim: float

    def to_dict(self) -> dict:
        return asdict(self)


def transport(
    y_c: np.ndarray,
    published: float | None,
    control_n: int | None,
    binary: bool,
    control_sd: float | None = None,
    level: float = LEVEL,
) -> Transport:
    """Apply the control-rate rule (module doc). Without a published control rate the trial is
    unchecked, which counts as not transportable."""
    m, v, _ = _moments(np.asarray(y_c, float))
    se_sim = math.sqrt(v)
    if published is None or control_n is None:
        return Transport(False, False, m, published, None, None, se_sim)
    if binary:
        se_study = math.sqrt(published * (1 - published) / control_n)
    else:
        if control_sd is None:
            raise ValueError("an amount outcome's control check needs control_sd")
        se_study = control_sd / math.sqrt(control_n)
    tol = _z(level) * math.sqrt(se_study**2 + se_sim**2)
    return Transport(True, abs(m - published) <= tol, m, published, tol, se_study, se_sim)
