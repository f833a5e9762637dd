"""Secure by default (service/http/exposure.py): public secrets are refused off loopback only."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from service.http.exposure import is_loopback, refusal
from service.settings import Settings

OWN = {"api_keys": [SecretStr("k-7d1f0c")], "hmac_secret": SecretStr("s-9a2e41")}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_may_keep_the_development_secrets(host: str) -> None:
    assert is_loopback(host)
    assert refusal(Settings(), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "grounding.internal"])
def test_other_hosts_are_refused_with_the_development_secrets(host: str) -> None:
    reason = refusal(Settings(), host)
    assert reason is not None and "\n" not in reason
    assert f"refusing to serve on {host}" in reason
    assert "GROUNDING_API_KEYS and GROUNDING_HMAC_SECRET" in reason
    assert "openssl rand" in reason and "--host 127.0.0.1" in reason


def test_each_public_value_is_named_and_own_secrets_start() -> None:
    assert refusal(Settings(**OWN), "0.0.0.0") is None
    only_key = Settings(**{**OWN, "hmac_secret": SecretStr("local-dev-hmac-secret")})
    assert "value of GROUNDING_HMAC_SECRET:" in (refusal(only_key, "0.0.0.0") or "")
    example = Settings(**{**OWN, "api_keys": [SecretStr("k-1"), SecretStr("change-me-key-2")]})
    assert "value of GROUNDING_API_KEYS:" in (refusal(example, "0.0.0.0") or "")
