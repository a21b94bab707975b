"""The `accord` command (cli/main.py: the parser and the dispatch): the top layer, above the
HTTP service. Most verbs are an HTTP client of the service (cli/client.py), one module per
resource: cli/verbs_declarations.py, cli/verbs_quotas.py, cli/webhooks.py; `accord run`
starts and supervises the whole service (cli/runner.py, with the state directory's lock in
cli/state_lock.py and the checks it and `accord check` make first in cli/preflight.py);
`accord simulate` answers what-if questions offline (cli/simulate.py); `accord check` and
`accord archive` (the retention run) are cli/verbs_operations.py. What every verb prints
goes through one renderer (cli/output.py); declaration files are read by
cli/declaration_files.py. No business logic: parsing, calling and printing only."""
