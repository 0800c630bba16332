"""The one error classifier, against every ARM/Batch code it names and the bare HTTP statuses.

The expected table below is written out by hand from Azure's documented meaning of each code (not
derived from the classifier's own table), so a changed category or reason fails here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from azbatch_operator.reconcile import errors
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit

R, T, TH, NF, F = (
    Category.RETRIABLE,
    Category.TERMINAL,
    Category.THROTTLED,
    Category.NOT_FOUND,
    Category.FORBIDDEN,
)

#: (code as Azure spells it, the status it usually comes with, category, reason)
EVERY_CODE: list[tuple[str, int, Category, Reason]] = [
    ("ResourceNotFound", 404, NF, Reason.AZURE_ERROR),
    ("NotFound", 404, NF, Reason.AZURE_ERROR),
    ("ResourceGroupNotFound", 404, NF, Reason.AZURE_ERROR),
    ("ParentResourceNotFound", 404, NF, Reason.AZURE_ERROR),
    ("PoolNotFound", 404, NF, Reason.AZURE_ERROR),
    ("GalleryImageNotFound", 404, NF, Reason.IMAGE_NOT_FOUND),
    ("ImageNotFound", 400, NF, Reason.IMAGE_NOT_FOUND),
    ("AuthorizationFailed", 403, F, Reason.ACCESS_DENIED),
    ("LinkedAuthorizationFailed", 403, F, Reason.ACCESS_DENIED),
    ("AuthenticationFailed", 401, F, Reason.ACCESS_DENIED),
    ("InvalidAuthenticationToken", 401, F, Reason.ACCESS_DENIED),
    ("InvalidAuthenticationTokenTenant", 401, F, Reason.ACCESS_DENIED),
    ("Forbidden", 403, F, Reason.ACCESS_DENIED),
    ("InsufficientAccountPermissions", 403, F, Reason.ACCESS_DENIED),
    ("TooManyRequests", 429, TH, Reason.THROTTLED),
    ("Throttled", 429, TH, Reason.THROTTLED),
    ("SubscriptionRequestsThrottled", 429, TH, Reason.THROTTLED),
    ("ResourceCollectionRequestsThrottled", 429, TH, Reason.THROTTLED),
    ("ResourceRequestsThrottled", 429, TH, Reason.THROTTLED),
    ("OperationThrottled", 429, TH, Reason.THROTTLED),
    ("QuotaExceeded", 409, T, Reason.QUOTA_EXCEEDED),
    ("AccountCoreQuotaReached", 409, T, Reason.QUOTA_EXCEEDED),
    ("AccountLowPriorityCoreQuotaReached", 409, T, Reason.QUOTA_EXCEEDED),
    ("AccountVMSeriesCoreQuotaReached", 409, T, Reason.QUOTA_EXCEEDED),
    ("AccountSpotCoreQuotaReached", 409, T, Reason.QUOTA_EXCEEDED),
    ("PoolQuotaReached", 409, T, Reason.QUOTA_EXCEEDED),
    ("InvalidParameter", 400, T, Reason.INVALID_SPEC),
    ("InvalidPropertyValue", 400, T, Reason.INVALID_SPEC),
    ("InvalidRequestFormat", 400, T, Reason.INVALID_SPEC),
    ("PropertyCannotBeUpdated", 409, T, Reason.INVALID_SPEC),
    ("InvalidResourceReference", 400, T, Reason.INVALID_SPEC),
    ("LinkedInvalidPropertyId", 400, T, Reason.INVALID_SPEC),
    ("InvalidResourceName", 400, T, Reason.INVALID_SPEC),
    ("BadRequest", 400, T, Reason.AZURE_ERROR),
    ("AutoScalingFormulaSyntaxError", 400, T, Reason.INVALID_SPEC),
    ("AutoScalingFormulaTooLong", 400, T, Reason.INVALID_SPEC),
    ("AutoScaleFormulaTooLong", 400, T, Reason.INVALID_SPEC),
    ("InvalidAutoScalingSettings", 400, T, Reason.INVALID_SPEC),
    ("IncompatibleVMSize", 400, T, Reason.INVALID_SPEC),
    ("UnsupportedVMSize", 400, T, Reason.INVALID_SPEC),
    ("OverconstrainedAllocationRequestError", 409, T, Reason.AZURE_ERROR),
    ("OverconstrainedAllocationRequest", 409, T, Reason.AZURE_ERROR),
    ("NoRegisteredProviderFound", 400, T, Reason.AZURE_ERROR),
    ("InvalidApiVersionParameter", 400, T, Reason.AZURE_ERROR),
    ("Conflict", 409, R, Reason.AZURE_ERROR),
    ("AnotherOperationInProgress", 409, R, Reason.AZURE_ERROR),
    ("OperationPreempted", 409, R, Reason.AZURE_ERROR),
    ("ResourceBeingDeleted", 409, R, Reason.AZURE_ERROR),
    ("PoolBeingDeleted", 409, R, Reason.AZURE_ERROR),
    ("PoolBeingResized", 409, R, Reason.AZURE_ERROR),
    ("RetryableError", 500, R, Reason.AZURE_ERROR),
    ("InternalServerError", 500, R, Reason.AZURE_ERROR),
    ("InternalError", 500, R, Reason.AZURE_ERROR),
    ("ServerBusy", 503, R, Reason.AZURE_ERROR),
    ("ServiceUnavailable", 503, R, Reason.AZURE_ERROR),
    ("GatewayTimeout", 504, R, Reason.AZURE_ERROR),
    ("OperationTimedOut", 500, R, Reason.AZURE_ERROR),
    ("ResourceInUse", 409, T, Reason.AZURE_ERROR),
    ("InUse", 409, T, Reason.AZURE_ERROR),
    ("ImageInUse", 409, T, Reason.IMAGE_IN_USE),
]


def test_the_table_covers_every_code_the_classifier_names() -> None:
    named = {code.lower() for code, *_ in EVERY_CODE}
    assert named == set(errors._BY_CODE), "a code was added to or removed from the classifier untested"


@pytest.mark.parametrize(("code", "status", "category", "reason"), EVERY_CODE)
def test_every_code_classifies_as_documented(
    code: str, status: int, category: Category, reason: Reason
) -> None:
    result = errors.classify(status, code, "the message")
    assert (result.category, result.reason) == (category, reason)
    assert result.code == code
    assert result.message == "the message"
    assert result.transient is (category in (R, TH))
    # Only a retriable answer (a 5xx, a conflict) may have acted: a create recorded before it stays
    # recorded; a throttle or a terminal refusal created nothing.
    assert result.nothing_done is (category is not R)


@pytest.mark.parametrize(("code", "status", "category", "reason"), EVERY_CODE)
def test_codes_match_case_insensitively_and_win_over_the_status(
    code: str, status: int, category: Category, reason: Reason
) -> None:
    """A code decides, whatever status it came with (Batch sends quota codes with 400 and 409)."""
    for other_status in (400, 409, 500):
        if other_status == 429:
            continue
        result = errors.classify(other_status, code.upper())
        assert (result.category, result.reason) == (category, reason)


#: Bare statuses, without a code and with a code the classifier does not know.
BARE: list[tuple[int | None, Category, Reason]] = [
    (400, T, Reason.AZURE_ERROR),
    (401, F, Reason.ACCESS_DENIED),
    (403, F, Reason.ACCESS_DENIED),
    (404, NF, Reason.AZURE_ERROR),
    (405, T, Reason.AZURE_ERROR),
    (408, R, Reason.AZURE_ERROR),
    (409, R, Reason.AZURE_ERROR),
    (412, T, Reason.AZURE_ERROR),
    (422, T, Reason.AZURE_ERROR),
    (429, TH, Reason.THROTTLED),
    (499, T, Reason.AZURE_ERROR),
    (500, R, Reason.AZURE_ERROR),
    (502, R, Reason.AZURE_ERROR),
    (503, R, Reason.AZURE_ERROR),
    (504, R, Reason.AZURE_ERROR),
    (None, R, Reason.AZURE_ERROR),
]


@pytest.mark.parametrize(("status", "category", "reason"), BARE)
@pytest.mark.parametrize("code", [None, "", "SomethingNew"])
def test_bare_statuses(status: int | None, code: str | None, category: Category, reason: Reason) -> None:
    result = errors.classify(status, code)
    assert (result.category, result.reason) == (category, reason)
    expected_code = code or (str(status) if status is not None else "NoResponse")
    assert result.code == expected_code


@pytest.mark.parametrize("code", ["BadRequest", "InvalidParameter", "ResourceInUse", None])
def test_a_429_is_throttling_whatever_terminal_code_it_carries(code: str | None) -> None:
    result = errors.classify(429, code, retry_after="7")
    assert (result.category, result.reason) == (TH, Reason.THROTTLED)
    assert result.retry_after == 7
    assert result.transient


def test_a_429_keeps_a_forbidden_or_not_found_code() -> None:
    """Only a terminal verdict turns into throttling: a denial stays a denial."""
    assert errors.classify(429, "AuthorizationFailed").category is F
    assert errors.classify(429, "ResourceNotFound").category is NF


@pytest.mark.parametrize(
    ("category", "words"),
    [
        (F, "grant the operator's identity access"),
        (TH, "throttling"),
        (R, "will retry"),
        (NF, "check that the resource exists"),
        (T, "fix the spec or the Azure resource"),
    ],
)
def test_describe_gives_the_hint_of_each_category(category: Category, words: str) -> None:
    status = {F: 403, TH: 429, R: 503, NF: 404, T: 400}[category]
    text = errors.describe(errors.classify(status, "Code1", "detail here"), "PUT pool")
    assert text.startswith("PUT pool failed with Code1: detail here (")
    assert words in text
    bare = errors.describe(errors.classify(status, None), "GET x")
    assert bare.startswith(f"GET x failed with {status} (")


def test_retry_after_as_an_http_date_without_a_zone_is_read_as_utc() -> None:
    """RFC 5322's "-0000" (no zone information) parses to a naive datetime: taken as UTC."""
    now = NOW.replace(microsecond=0)
    ahead = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S -0000")
    assert errors.parse_retry_after(ahead, now) == 90
