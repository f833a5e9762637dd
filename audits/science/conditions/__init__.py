"""Audited conditions, one module each, registered on import (``registry``): every module of
this package is imported here, so a new condition is its module and its ``Condition`` name."""

import importlib
import pkgutil

from audits.science.conditions.registry import (
    AnswerContext,
    ConditionDefinition,
    ConditionSkipped,
    ImageSources,
    colours,
    counterfactual_conditions,
    default_conditions,
    definition_of,
    register_condition,
    registered,
    registered_names,
    shown_instead,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "AnswerContext",
    "ConditionDefinition",
    "ConditionSkipped",
    "ImageSources",
    "colours",
    "counterfactual_conditions",
    "default_conditions",
    "definition_of",
    "register_condition",
    "registered",
    "registered_names",
    "shown_instead",
]
