"""What to report, and when to try again, after a failure the planners never saw (pure).

An Azure call that failed is reported by its classification (reconcile/errors.py): Reconciling
while retrying helps (throttled, transient), Stalled while a human must act.  Any other failure
(a bug, a lost connection to the apiserver) is the operator's own: said plainly, retried with
backoff.
"""

from __future__ import annotations

import random
from datetime import datetime

from azbatch_operator.reconcile import conditions, errors, polling
from azbatch_operator.reconcile.conditions import Condition, Reason
from azbatch_operator.reconcile.errors import Classification
from azbatch_operator.settings import Settings


def azure_failure(
    error: Classification,
    operation: str,
    gen: int,
    now: datetime,
    attempt: int,
    settings: Settings,
    rng: random.Random | None = None,
) -> tuple[list[Condition], float]:
    """Conditions and the retry delay for a failed Azure call (``operation``: its name)."""
    message = errors.describe(error, operation)
    delay = polling.after_error(error, attempt, settings, rng)
    if error.transient:
        conds = conditions.progressing(gen, now, error.reason, message)
    else:
        conds = conditions.stalled(gen, now, error.reason, message)
    return conds, polling.slow(settings) if delay is None else delay


def own_failure(
    action: str,
    failure: BaseException,
    gen: int,
    now: datetime,
    attempt: int,
    settings: Settings,
    rng: random.Random | None = None,
) -> tuple[list[Condition], float]:
    """Conditions and the retry delay for the operator's own failure during ``action``."""
    message = (
        f"{action} failed unexpectedly: {type(failure).__name__}: {failure}; retrying (see the operator log)"
    )
    return conditions.progressing(gen, now, Reason.TRANSIENT_ERROR, message), polling.backoff(
        attempt, settings, rng
    )
