"""Audited conditions, one module each, registered on import (``registry``)."""

from audits.science.conditions import flipped as _flipped  # noqa: F401 - registers it
from audits.science.conditions import image_removal as _image_removal  # noqa: F401
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
