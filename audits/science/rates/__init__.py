"""Per-item rates, defined once (``registry``): every module of this package registers its rates
on import (the grounding rates in ``grounding``); a condition registers its own in its module."""

import importlib
import pkgutil

from audits.science.rates.registry import (
    ItemRate,
    RateInputs,
    check_rate,
    check_value,
    item_rates,
    online_rates,
    register_rate,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ItemRate",
    "RateInputs",
    "check_rate",
    "check_value",
    "item_rates",
    "online_rates",
    "register_rate",
]
