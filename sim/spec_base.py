"""The base of every scenario section's specification: frozen, no unknown fields, finite."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: A probability field's bounds.
Probability = Field(ge=0.0, le=1.0)


class Spec(BaseModel):
    """A frozen scenario section that refuses unknown fields."""

    # NaN and infinity are refused as "a finite number" before any range check sees them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
