"""Per-item rates, defined once (``registry``); the grounding rates register on import."""

from audits.science.rates import grounding as _grounding  # noqa: F401 - registers the rates
from audits.science.rates.registry import (
    ItemRate,
    RateInputs,
    check_rate,
    check_value,
    item_rates,
    online_rates,
    register_rate,
)

__all__ = [
    "ItemRate",
    "RateInputs",
    "check_rate",
    "check_value",
    "item_rates",
    "online_rates",
    "register_rate",
]
