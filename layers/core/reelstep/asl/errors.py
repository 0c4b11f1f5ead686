"""Error names of the Amazon States Language and how Retry/Catch match them.

States.Runtime and States.DataLimitExceeded are terminal: the developer guide says a Retrier or Catcher on
States.ALL never sees them, and they always fail the execution, so no ErrorEquals matches them at all.
"""

from __future__ import annotations

from collections.abc import Iterable

ALL = "States.ALL"
TIMEOUT = "States.Timeout"
TASK_FAILED = "States.TaskFailed"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"

TERMINAL_ERRORS = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


class StatesError(Exception):
    """A named ASL error: .error (e.g. 'States.Timeout', 'UnsupportedMedia') and .cause (str)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class InvalidDefinition(ValueError):
    """The state machine definition breaks the States Language rules (found before anything runs)."""


def error_matches(error: str, error_equals: Iterable[str]) -> bool:
    """Whether a Retrier's or Catcher's ErrorEquals list covers this error name."""
    if error in TERMINAL_ERRORS:
        return False
    for name in error_equals:
        if name in (ALL, error):
            return True
        if name == TASK_FAILED and error != TIMEOUT:
            return True
    return False
