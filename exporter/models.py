"""The pydantic building blocks every configuration model shares: strictness and durations.

Neutral ground below both the configuration package and the collectors, so a collector can
declare its own settings model without importing the configuration (which imports the
collectors' registry).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from exporter.durations import DurationError, parse_duration


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


#: Seconds, written as `500ms`, `5m`, `1h30m` or a plain number.
Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class StrictModel(BaseModel):
    """Every configuration model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
