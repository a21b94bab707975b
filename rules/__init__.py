"""Rule packs and the pure evaluation core.

Rule packs are YAML data files (effective-dated, every number cited); `rules.pack`
loads them strictly, `rules.compiler` turns their conditions into durable-rules
rulesets, `rules.quota` derives quota periods, and `rules.engine` evaluates a
declaration as of its `accepted_at`. Nothing here does IO beyond reading pack files,
and nothing reads the wall clock.
"""
