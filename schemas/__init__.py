"""The contracts every other folder speaks: pydantic models of declarations, verdicts,
findings, audit events, quota periods and permits. No IO here."""
