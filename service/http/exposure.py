"""Secure by default: a service reachable from other hosts does not start with public secrets.

The API keys and the HMAC secret have development defaults (``local-dev-key``,
``local-dev-hmac-secret``, printed in the README) so that ``make run`` works at once on
loopback. On any other address those defaults would let anyone read audit records, write
feedback and run audits, and would key image ids with a public secret, so the service refuses
to start there until the operator sets their own (``refusal``), with one line saying how.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pydantic import SecretStr

from service.settings import Settings

PUBLIC_SECRETS = frozenset(
    {
        "local-dev-key",
        "local-dev-hmac-secret",
        "change-me",
        "change-me-key-1",
        "change-me-key-2",
    }
)
"""Values printed in this repository (settings defaults, deploy examples): never secret."""

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a loopback name) is reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _public(values: Iterable[SecretStr]) -> bool:
    return any(value.get_secret_value() in PUBLIC_SECRETS for value in values)


def refusal(settings: Settings, host: str) -> str | None:
    """Why the service must not start on ``host`` with these settings; None when it may."""
    if is_loopback(host):
        return None
    unset = []
    if not settings.security.api_keys or _public(settings.security.api_keys):
        unset.append("GROUNDING_API_KEYS")
    if _public([settings.security.hmac_secret]):
        unset.append("GROUNDING_HMAC_SECRET")
    if not unset:
        return None
    names = " and ".join(unset)
    return (
        f"refusing to serve on {host} with the public development value of {names}: anyone who "
        "can reach this address could read audit records and run audits. Set your own, e.g. "
        "export GROUNDING_API_KEYS=$(openssl rand -hex 24) "
        "GROUNDING_HMAC_SECRET=$(openssl rand -hex 32), or bind loopback (--host 127.0.0.1)"
    )


def served_host() -> str:
    """The address ``bentoml serve`` binds, in its main process: the command's ``--host`` (or
    ``BENTOML_HOST``), else BentoML's configured host (``0.0.0.0`` by default)."""
    import click
    from bentoml._internal.configuration.containers import BentoMLContainer

    context = click.get_current_context(silent=True)
    host = context.params.get("host") if context is not None else None
    return str(host or BentoMLContainer.http.host.get())
