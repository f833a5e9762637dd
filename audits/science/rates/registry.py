"""The registry of per-item rates: one definition per figure, read by the offline report, the
online ``/stats`` windows, the Redis counters and Prometheus.

A rate is the share of items whose value is True among the items where it is defined (not
None), with a Wilson interval. Its per-item value is a function of what every audit knows: the
item's flags (``ItemFlags``, checks included), whether the real output is text, which
conditions ran, and offline the oracle flip (from both reference answers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audits.contracts.types import ItemFlags


@dataclass(frozen=True, slots=True)
class RateInputs:
    """What a rate's per-item value may look at."""

    flags: ItemFlags
    has_text: bool = True
    """The real output is text (always online: the production answer)."""
    ran: frozenset[str] = frozenset()
    """Conditions that ran (not skipped), as plain names."""
    oracle_flip: bool | None = None
    """Offline only: whether the shuffled image's reference answer differs from the item's."""


@dataclass(frozen=True)
class ItemRate:
    name: str
    """The key in ``report.json`` (``metrics.overall.<name>``) and the ``rate`` label."""
    label: str
    """The short name in tables and in ``/stats`` windows (``IS``, ``HVRR``...)."""
    description: str
    value: Callable[[RateInputs], bool | None]
    online: bool = True
    """Counted by the service (``/stats``, Redis counters, Prometheus)."""
    by_modality: bool = False
    """Also reported per modality in ``/stats``."""
    counter: str = ""
    """Stem of its Redis counter fields (``<counter>_n``, ``<counter>_k``); the name if empty."""

    @property
    def counter_stem(self) -> str:
        return self.counter or self.name


_RATES: dict[str, ItemRate] = {}


def register_rate(rate: ItemRate) -> ItemRate:
    """Add a rate (once per name); every report and exporter picks it up from here."""
    if rate.name in _RATES and _RATES[rate.name] != rate:
        raise ValueError(f"a rate named {rate.name!r} is already registered")
    _RATES[rate.name] = rate
    return rate


def _load_registrations() -> None:
    """Import the modules that register rates (the grounding rates, and each condition's own),
    so a reader sees every rate whatever it imported first."""
    import audits.science.conditions
    import audits.science.rates  # noqa: F401


def item_rates() -> tuple[ItemRate, ...]:
    """Every registered rate, in registration order."""
    _load_registrations()
    return tuple(_RATES.values())


def online_rates() -> tuple[ItemRate, ...]:
    return tuple(rate for rate in item_rates() if rate.online)


def check_value(flags: ItemFlags, check: str) -> bool | None:
    """A check's per-item value: its score as a bool (1 = True), None when it has none."""
    for result in flags.checks:
        if result.name == check:
            return None if result.score is None else result.score >= 0.5
    return None


def check_rate(
    name: str, check: str, *, label: str | None = None, description: str, **options: object
) -> ItemRate:
    """A rate whose per-item value is the score of the per-item check ``check``."""
    return ItemRate(
        name=name,
        label=label or name,
        description=description,
        value=lambda inputs: check_value(inputs.flags, check),
        **options,  # type: ignore[arg-type]
    )
