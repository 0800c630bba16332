"""The one place that decides when to come back (requeue delay, seconds).

Fast while something changes, slow when steady (keeps steady-state ARM reads far below the
subscription budget), Retry-After honoured, exponential backoff with jitter for transient errors.
Randomness is injected (``random.Random``) so tests are deterministic; ``rng=None`` means no jitter.
"""

from __future__ import annotations

import random

from azbatch_operator.reconcile.errors import Category, Classification
from azbatch_operator.settings import Settings


def _jitter(seconds: float, settings: Settings, rng: random.Random | None) -> float:
    if rng is None or settings.jitter_fraction == 0:
        return seconds
    return seconds * (1 + rng.uniform(0, settings.jitter_fraction))


def fast(settings: Settings) -> float:
    """Something is changing (resize in progress, long-running operation in flight)."""
    return settings.poll_fast_seconds


def slow(settings: Settings, rng: random.Random | None = None) -> float:
    """Steady at target: a jittered resync that catches drift without spending the ARM budget."""
    return _jitter(settings.poll_slow_seconds, settings, rng)


def backoff(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """``base * 2**attempt`` capped at ``retry_max_seconds``, plus jitter (attempt counts from 0)."""
    exponent = min(max(attempt, 0), 30)
    delay = min(settings.retry_max_seconds, settings.retry_base_seconds * (2**exponent))
    return _jitter(delay, settings, rng)


def next_wake(requested: float | None, settings: Settings, rng: random.Random | None = None) -> float:
    """When a reconcile loop runs again, whatever the planner asked for.

    "Only on a change" still re-checks on the slow poll: a Stalled object heals when Azure changes
    under it (a VM fixed, a quota raised, an image replicated) without anybody touching the object.
    Slow delays are jittered so objects created together do not poll in lockstep; fast ones are not.
    """
    if requested is None or requested >= settings.poll_slow_seconds:
        return slow(settings, rng)
    return requested


def after_error(
    error: Classification, attempt: int, settings: Settings, rng: random.Random | None = None
) -> float | None:
    """Delay before retrying a failed call, or None when retrying without a human is pointless.

    Throttling waits at least what the server asked for; other transient errors back off.
    Terminal errors (and forbidden, which needs a role assignment) re-check on the slow timer.
    """
    if error.transient:
        return max(error.retry_after or 0.0, backoff(attempt, settings, rng))
    if error.category in (Category.FORBIDDEN, Category.TERMINAL):
        return slow(settings, rng)
    return None


def until(remaining: float, settings: Settings) -> float:
    """Wait for a known deadline, but never less than one second nor more than the slow interval."""
    return min(max(remaining, 1.0), settings.poll_slow_seconds)


#: A write the write gate refused (this replica stopped leading, the object is going away): the
#: finalizer asks kopf to come back this soon; the next leader or pass decides again.
REFUSED_RETRY_SECONDS = 2.0


def refused() -> float:
    """After a refused write or on a standby replica (kopf.TemporaryError delay)."""
    return REFUSED_RETRY_SECONDS


def soon(requested: float | None, settings: Settings) -> float:
    """What a plan asked for, but no later than the fast poll: something is known to change soon
    (a deletion in flight, the set of pools using an image changed)."""
    return min(requested or settings.poll_fast_seconds, settings.poll_fast_seconds)


def or_fast(requested: float | None, settings: Settings) -> float:
    """What a plan asked for, or the fast poll when it asked for nothing (a finalizer waiting)."""
    return requested or settings.poll_fast_seconds
