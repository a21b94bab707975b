"""Rule packs and the pure evaluation core.

Rule packs are YAML data files (effective-dated, every number cited): `rules.values`,
`rules.measure` and `rules.pack` are their model, `rules.loader` loads them strictly,
`rules.compiler` turns their conditions into durable-rules rulesets, `rules.quota`
derives quota periods, and `rules.engine` names the stages that evaluate a declaration
as of its `accepted_at` (currency, facts, matching, findings, evaluation, verdict).
Nothing here does IO beyond reading pack files, and nothing reads the wall clock.
"""
