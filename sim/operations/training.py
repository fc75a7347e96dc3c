"""Training as a lever: it costs per agent-day, takes time to work, and pays less and less.

The operations model (:class:`~sim.operations.model.TrainingEffect`) turns a training level into
shorter handle times (more calls a day) and a higher promise rate per conversation. This module
is what the portfolio engine reads of it:

* **skill with diminishing returns**: ``skill(L) = (1 - exp(-k L)) / (1 - exp(-k))`` with
  ``k = 2.5`` (assumption): half the programme (L = 0.5) gives 78 % of the full skill, the second
  half the remaining 22 %;
* **time to work**: a team starts at the standard level's skill and moves towards its plan's
  skill as ``1 - exp(-day / 30)`` (assumption: a month's time constant);
* **promise uplift in the engine**: the promise rate of agent calls and visits is multiplied by
  ``(p0 + u skill_t) / (p0 + u skill(0.5))`` with the operations model's untrained promise rate
  ``p0 = 0.35`` and full uplift ``u = 0.15``: 1 at the standard level (the level the channels'
  promise rates are calibrated at), 0.77 untrained, 1.06 fully trained once ramped up;
* **cost**: the labour rate (0.25 USD a minute) is the loaded rate of a team on the standard
  programme; a plan pays ``cost_per_agent_day x (L - 0.5) / 0.5`` more per agent and day (less
  below the standard level; assumption: 6 USD an agent-day for the full programme over the
  standard one, about 5 % of a day's pay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.operations.model import CallProfile, TrainingEffect

#: The training level the labour rate and the channels' promise rates assume.
STANDARD_LEVEL = 0.5


@dataclass(frozen=True)
class TrainingProgramme:
    """Training's skill curve, ramp-up and cost (see the module docstring).

    Attributes
    ----------
    level : float
        Training level of the plan, 0..1.
    cost_per_agent_day : float
        Extra cost per agent-day of the full programme over the standard one (USD).
    curvature : float
        ``k`` of the skill curve (larger: returns diminish sooner).
    ramp_days : float
        Time constant of the move from the standard skill to the plan's.
    """

    level: float = STANDARD_LEVEL
    cost_per_agent_day: float = 6.0
    curvature: float = 2.5
    ramp_days: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.level <= 1:
            raise ValueError("training level must be in [0, 1]")
        if self.curvature <= 0 or self.ramp_days <= 0 or self.cost_per_agent_day < 0:
            raise ValueError("curvature and ramp_days must be > 0, cost_per_agent_day >= 0")

    def skill(self, level: float | None = None) -> float:
        """Skill bought by a training ``level`` (default: the plan's), 0..1, concave."""
        lv = self.level if level is None else level
        k = self.curvature
        return (1.0 - math.exp(-k * lv)) / (1.0 - math.exp(-k))

    def skill_on_day(self, day: int) -> float:
        """The team's skill on ``day``: from the standard level's towards the plan's."""
        start, target = self.skill(STANDARD_LEVEL), self.skill()
        return start + (target - start) * (1.0 - math.exp(-day / self.ramp_days))

    def promise_factor(self, day: int) -> float:
        """Multiplier on the engine's agent promise rates on ``day`` (1 at the standard level)."""
        p0, u = CallProfile().promise_rate, TrainingEffect().promise_uplift
        return (p0 + u * self.skill_on_day(day)) / (p0 + u * self.skill(STANDARD_LEVEL))

    def extra_cost_per_agent_day(self) -> float:
        """Training cost over the standard programme's, per agent and day (negative below)."""
        return self.cost_per_agent_day * (self.level - STANDARD_LEVEL) / (1.0 - STANDARD_LEVEL)
