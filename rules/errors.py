"""The exceptions of the rules core, in one tree.

RulesError
├── PackError          a rule pack file is malformed (names the file and the key)
└── EngineError        durable-rules failed while evaluating (an action raised,
                       or the C core returned an error code)
"""

from __future__ import annotations


class RulesError(Exception):
    """Base of every error raised by `rules`."""


class PackError(RulesError):
    """A rule pack could not be loaded; the message names the file and the key."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class EngineError(RulesError):
    """durable-rules failed during an evaluation."""
