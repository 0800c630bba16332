from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import errors, polling
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category
from azbatch_operator.settings import Settings
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("status", "code", "category", "reason"),
    [
        (400, "InvalidParameter", Category.TERMINAL, Reason.INVALID_SPEC),
        (400, None, Category.TERMINAL, Reason.AZURE_ERROR),
        (401, None, Category.FORBIDDEN, Reason.ACCESS_DENIED),
        (403, "AuthorizationFailed", Category.FORBIDDEN, Reason.ACCESS_DENIED),
        (404, None, Category.NOT_FOUND, Reason.AZURE_ERROR),
        (404, "ResourceNotFound", Category.NOT_FOUND, Reason.AZURE_ERROR),
        (409, None, Category.RETRIABLE, Reason.AZURE_ERROR),
        (409, "PropertyCannotBeUpdated", Category.TERMINAL, Reason.INVALID_SPEC),
        (409, "PoolQuotaReached", Category.TERMINAL, Reason.QUOTA_EXCEEDED),
        (429, None, Category.THROTTLED, Reason.THROTTLED),
        (429, "BadRequest", Category.THROTTLED, Reason.THROTTLED),
        (503, None, Category.RETRIABLE, Reason.AZURE_ERROR),
        (500, "InternalServerError", Category.RETRIABLE, Reason.AZURE_ERROR),
        (None, None, Category.RETRIABLE, Reason.AZURE_ERROR),
        (400, "accountcorequotareached", Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    ],
)
def test_classify(status: int | None, code: str | None, category: Category, reason: Reason) -> None:
    result = errors.classify(status, code, "msg")
    assert (result.category, result.reason) == (category, reason)
    assert result.transient == (category in (Category.RETRIABLE, Category.THROTTLED))


def test_retry_after_forms() -> None:
    assert errors.parse_retry_after("30", NOW) == 30
    http_date = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert errors.parse_retry_after(http_date, NOW) == 90
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0
    assert errors.parse_retry_after("soon", NOW) is None
    assert errors.parse_retry_after(None, NOW) is None
    assert errors.classify(429, None, retry_after="12", now=NOW).retry_after == 12


def test_describe_says_what_to_do() -> None:
    text = errors.describe(errors.classify(403, "AuthorizationFailed", "no access"), "GET image")
    assert "AuthorizationFailed: no access" in text
    assert "grant" in text


S = Settings(retry_base_seconds=5, retry_max_seconds=300, jitter_fraction=0.1)


def test_backoff_grows_and_caps() -> None:
    delays = [polling.backoff(n, S) for n in range(10)]
    assert delays[:4] == [5, 10, 20, 40]
    assert delays[-1] == 300
    assert delays == sorted(delays)


def test_jitter_is_bounded_and_seeded() -> None:
    a = [polling.backoff(3, S, random.Random(7)) for _ in range(3)]
    b = [polling.backoff(3, S, random.Random(7)) for _ in range(3)]
    assert a == b
    for n in range(20):
        d = polling.backoff(n, S, random.Random(n))
        assert polling.backoff(n, S) <= d <= polling.backoff(n, S) * 1.1
    assert S.poll_slow_seconds <= polling.slow(S, random.Random(1)) <= S.poll_slow_seconds * 1.1


def test_after_error_honours_retry_after() -> None:
    throttled = errors.classify(429, None, retry_after="120", now=NOW)
    assert polling.after_error(throttled, 0, S) == 120
    assert polling.after_error(errors.classify(503, None), 2, S) == 20
    assert polling.after_error(errors.classify(403, None), 0, S) == S.poll_slow_seconds
    assert polling.after_error(errors.classify(404, None), 0, S) is None


def test_fast_slow_until() -> None:
    assert polling.fast(S) < polling.slow(S)
    assert polling.until(0.2, S) == 1
    assert polling.until(10_000, S) == S.poll_slow_seconds


def test_http_date_needs_a_clock() -> None:
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", None) is None
    assert errors.classify(429, None, retry_after="7").retry_after == 7


@given(
    requested=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000, allow_nan=False)),
    seed=st.integers(0, 2**32),
)
def test_next_wake_never_waits_forever_and_spreads_only_slow_polls(
    requested: float | None, seed: int
) -> None:
    settings = Settings(poll_fast_seconds=5, poll_slow_seconds=600, jitter_fraction=0.1)
    wake = polling.next_wake(requested, settings, random.Random(seed))
    if requested is not None and requested < settings.poll_slow_seconds:
        assert wake == requested  # fast polls keep their exact timing
    else:
        # "only on a change" and slow resyncs both become a jittered slow poll: a Stalled object
        # is re-checked, and objects created together drift apart.
        assert settings.poll_slow_seconds <= wake <= settings.poll_slow_seconds * 1.1


def test_backoff_doubles_from_the_base() -> None:
    settings = Settings(retry_base_seconds=1, retry_max_seconds=10**12, jitter_fraction=0)
    assert [polling.backoff(n, settings) for n in range(5)] == [1, 2, 4, 8, 16]
    # The exponent is capped, so a long-failing object never computes an absurd power.
    assert polling.backoff(31, settings) == polling.backoff(30, settings) == 2**30
    assert polling.backoff(-3, settings) == 1


def test_jitter_applies_whenever_a_fraction_and_a_random_source_are_given() -> None:
    settings = Settings(poll_slow_seconds=600, jitter_fraction=0.5)
    draws = {polling.slow(settings, random.Random(seed)) for seed in range(20)}
    assert len(draws) > 1
    assert all(600 <= d <= 900 for d in draws)
    assert polling.slow(Settings(poll_slow_seconds=600, jitter_fraction=0), random.Random(1)) == 600
    assert polling.slow(settings, None) == 600


def test_a_request_of_exactly_the_slow_interval_is_a_jittered_slow_poll() -> None:
    settings = Settings(poll_slow_seconds=600, jitter_fraction=0.5)
    wakes = {polling.next_wake(600, settings, random.Random(seed)) for seed in range(20)}
    assert len(wakes) > 1


def test_short_transient_backoffs_are_not_rounded_up() -> None:
    settings = Settings(retry_base_seconds=0.25, retry_max_seconds=300, jitter_fraction=0)
    assert polling.after_error(errors.classify(503, None), 0, settings) == 0.25
    assert polling.after_error(errors.classify(429, None), 0, settings) == 0.25
    assert polling.after_error(errors.classify(429, None, retry_after="9"), 0, settings) == 9


def test_finalizer_and_short_waits_come_from_the_polling_module() -> None:
    s = Settings(poll_fast_seconds=15, poll_slow_seconds=600)
    assert polling.refused() == 2.0
    assert polling.soon(None, s) == 15
    assert polling.soon(5, s) == 5
    assert polling.soon(600, s) == 15
    assert polling.or_fast(None, s) == 15
    assert polling.or_fast(0, s) == 15
    assert polling.or_fast(40, s) == 40
