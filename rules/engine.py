"""The engine's public face: evaluation of one declaration against the rule packs, as of
its `accepted_at`, and its verdict.

    evaluate(declaration, packs, permits)  -> Evaluation   steps 2-4 of SPEC §4
    finalize(evaluation, allocation)       -> Verdict      steps 6-7

Each stage has its own module, and this one names the two steps a caller takes:

    rules.currency           the declaration's values in its jurisdiction's currency
    rules.declaration_facts  the facts stated of each line and measure, and after allocation
    rules.measure_checks     the WTO / NOTIF / LINK checks of a measure, as of any date
    rules.matching           the durable-rules session (the only module that imports it)
    rules.findings           one rule decision (`Fired`) and the finding it gives
    rules.evaluation         steps 2-4: measures in force, line rules, quota requests
    rules.verdict            steps 6-7: allocation rules, treatments, duties, outcome
    rules.memos              the bounded memos of the stages, and `uncached()`

docs/engine.md tells the stages and durable-rules' traps; docs/performance.md the memos.
"""

from __future__ import annotations

from rules.evaluation import Evaluation, evaluate
from rules.verdict import finalize

__all__ = ["Evaluation", "evaluate", "finalize"]
