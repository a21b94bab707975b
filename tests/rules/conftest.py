"""Hypothesis settings for the rules tests, by profile.

`rules-ci` (the default) keeps the property tests of tests/rules within seconds, as
every `make test` runs them; `rules-thorough` looks much longer for a disagreement:

    ACCORD_RULES_PROFILE=rules-thorough .venv/bin/python -m pytest -q tests/rules/test_oracle.py

The profiles are only registered here, not loaded: a test that wants one takes the
`rules_profile` fixture and applies it to the property it builds, so that no other
test's settings change with this directory.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "rules-ci",
    max_examples=40,
    deadline=None,  # durable-rules compiles a pack's ruleset on its first use
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "rules-thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="session")
def rules_profile() -> settings:
    """The profile the environment names (ACCORD_RULES_PROFILE), `rules-ci` by default."""
    return settings.get_profile(os.environ.get("ACCORD_RULES_PROFILE", "rules-ci"))
