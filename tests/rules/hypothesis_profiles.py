"""Hypothesis settings for the rules tests, by profile.

`rules-ci` (the default) keeps the property tests of tests/rules within seconds, as
every `make test` runs them; `rules-thorough` looks much longer for a disagreement:

    ACCORD_RULES_PROFILE=rules-thorough .venv/bin/python -m pytest -q tests/rules/test_oracle.py

The profiles are only registered here, not loaded: a test that wants one applies
`RULES_PROFILE` to the property it builds, so that no other test's settings change.
(A module, not a conftest.py: a second conftest would shadow tests/conftest.py for the
tests that import from it.)
"""

from __future__ import annotations

import os

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

# the profile the environment names (ACCORD_RULES_PROFILE), `rules-ci` by default
RULES_PROFILE = settings.get_profile(os.environ.get("ACCORD_RULES_PROFILE", "rules-ci"))
