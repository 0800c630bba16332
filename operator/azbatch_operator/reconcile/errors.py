"""The one Azure error classifier: (HTTP status, ARM error code) -> category + condition reason.

Keyed by ARM error code first (codes are stable and specific), falling back on the HTTP status:
400 terminal, 401/403 forbidden, 404 not_found, 408/409 retriable, 5xx retriable; a 429 is throttling
whatever terminal code it carries.
The shell converts the category to kopf's TemporaryError/PermanentError only at the handler boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from azbatch_operator.reconcile.conditions import Reason


class Category(StrEnum):
    RETRIABLE = "retriable"
    THROTTLED = "throttled"
    TERMINAL = "terminal"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Classification:
    category: Category
    reason: Reason
    code: str
    message: str
    #: Seconds the server asked us to wait (Retry-After), if any.
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        """True when retrying later (without a human) may succeed."""
        return self.category in (Category.RETRIABLE, Category.THROTTLED)

    @property
    def nothing_done(self) -> bool:
        """True when the answer proves the request changed nothing: a terminal refusal, or a
        throttle (ARM refuses those before acting).  A timeout or a 5xx may still have landed."""
        return not self.transient or self.category is Category.THROTTLED


_BY_CODE: dict[str, tuple[Category, Reason]] = {
    # Not found
    "resourcenotfound": (Category.NOT_FOUND, Reason.AZURE_ERROR),
    "notfound": (Category.NOT_FOUND, Reason.AZURE_ERROR),
    "resourcegroupnotfound": (Category.NOT_FOUND, Reason.AZURE_ERROR),
    "parentresourcenotfound": (Category.NOT_FOUND, Reason.AZURE_ERROR),
    "poolnotfound": (Category.NOT_FOUND, Reason.AZURE_ERROR),
    "galleryimagenotfound": (Category.NOT_FOUND, Reason.IMAGE_NOT_FOUND),
    "imagenotfound": (Category.NOT_FOUND, Reason.IMAGE_NOT_FOUND),
    # Identity and permissions (seed S10)
    "authorizationfailed": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "linkedauthorizationfailed": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "authenticationfailed": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "invalidauthenticationtoken": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "invalidauthenticationtokentenant": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "forbidden": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    "insufficientaccountpermissions": (Category.FORBIDDEN, Reason.ACCESS_DENIED),
    # Throttling
    "toomanyrequests": (Category.THROTTLED, Reason.THROTTLED),
    "throttled": (Category.THROTTLED, Reason.THROTTLED),
    "subscriptionrequeststhrottled": (Category.THROTTLED, Reason.THROTTLED),
    "resourcecollectionrequeststhrottled": (Category.THROTTLED, Reason.THROTTLED),
    "resourcerequeststhrottled": (Category.THROTTLED, Reason.THROTTLED),
    "operationthrottled": (Category.THROTTLED, Reason.THROTTLED),
    # Quota: terminal until a human raises it (the planners re-check on a slow timer)
    "quotaexceeded": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    "accountcorequotareached": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    "accountlowprioritycorequotareached": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    "accountvmseriescorequotareached": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    "accountspotcorequotareached": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    "poolquotareached": (Category.TERMINAL, Reason.QUOTA_EXCEEDED),
    # Bad requests caused by the spec
    "invalidparameter": (Category.TERMINAL, Reason.INVALID_SPEC),
    "invalidpropertyvalue": (Category.TERMINAL, Reason.INVALID_SPEC),
    "invalidrequestformat": (Category.TERMINAL, Reason.INVALID_SPEC),
    "propertycannotbeupdated": (Category.TERMINAL, Reason.INVALID_SPEC),
    "invalidresourcereference": (Category.TERMINAL, Reason.INVALID_SPEC),
    "linkedinvalidpropertyid": (Category.TERMINAL, Reason.INVALID_SPEC),
    "invalidresourcename": (Category.TERMINAL, Reason.INVALID_SPEC),
    "badrequest": (Category.TERMINAL, Reason.AZURE_ERROR),
    # Autoscale formulas Batch cannot parse (400 on Pool_Create / Pool_Update)
    "autoscalingformulasyntaxerror": (Category.TERMINAL, Reason.INVALID_SPEC),
    "autoscalingformulatoolong": (Category.TERMINAL, Reason.INVALID_SPEC),
    "autoscaleformulatoolong": (Category.TERMINAL, Reason.INVALID_SPEC),
    "invalidautoscalingsettings": (Category.TERMINAL, Reason.INVALID_SPEC),
    # Resize errors no retry heals: the VM size does not fit the pool's configuration (or Batch
    # does not offer it), or the region cannot place it under the pool's constraints.
    "incompatiblevmsize": (Category.TERMINAL, Reason.INVALID_SPEC),
    "unsupportedvmsize": (Category.TERMINAL, Reason.INVALID_SPEC),
    "overconstrainedallocationrequesterror": (Category.TERMINAL, Reason.AZURE_ERROR),
    "overconstrainedallocationrequest": (Category.TERMINAL, Reason.AZURE_ERROR),
    # The region does not serve the api-version the operator pins (a version still rolling out,
    # ARM's 400): a human pins another version or waits; re-checked on the slow poll.
    "noregisteredproviderfound": (Category.TERMINAL, Reason.AZURE_ERROR),
    "invalidapiversionparameter": (Category.TERMINAL, Reason.AZURE_ERROR),
    # Conflicts that clear by themselves
    "conflict": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "anotheroperationinprogress": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "operationpreempted": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "resourcebeingdeleted": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "poolbeingdeleted": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "poolbeingresized": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "retryableerror": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "internalservererror": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "internalerror": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "serverbusy": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "serviceunavailable": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "gatewaytimeout": (Category.RETRIABLE, Reason.AZURE_ERROR),
    "operationtimedout": (Category.RETRIABLE, Reason.AZURE_ERROR),
    # Conflicts that need a human
    "resourceinuse": (Category.TERMINAL, Reason.AZURE_ERROR),
    "inuse": (Category.TERMINAL, Reason.AZURE_ERROR),
    "imageinuse": (Category.TERMINAL, Reason.IMAGE_IN_USE),
}


def _by_status(status: int | None) -> tuple[Category, Reason]:
    if status is None:
        # No response at all (connection reset, timeout): the network, not the request.
        return Category.RETRIABLE, Reason.AZURE_ERROR
    if status in (401, 403):
        return Category.FORBIDDEN, Reason.ACCESS_DENIED
    if status == 404:
        return Category.NOT_FOUND, Reason.AZURE_ERROR
    if status == 409 or status == 408 or status >= 500:
        return Category.RETRIABLE, Reason.AZURE_ERROR
    return Category.TERMINAL, Reason.AZURE_ERROR


def classify(
    status: int | None,
    code: str | None,
    message: str = "",
    retry_after: str | None = None,
    now: datetime | None = None,
) -> Classification:
    """Classify one failed Azure call.

    ``retry_after`` is the raw Retry-After header (seconds or HTTP-date); ``now`` is needed only to
    turn an HTTP-date into seconds.
    """
    category, reason = _BY_CODE.get((code or "").lower(), _by_status(status))
    wait = parse_retry_after(retry_after, now)
    if category is Category.TERMINAL and status == 429:
        category, reason = Category.THROTTLED, Reason.THROTTLED
    return Classification(category, reason, code or (str(status) if status else "NoResponse"), message, wait)


def parse_retry_after(value: str | None, now: datetime | None) -> float | None:
    """``Retry-After: 30`` -> 30.0; ``Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`` -> seconds from now.

    Returns None for a missing or unreadable header (or an HTTP-date without ``now``); never negative.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        if now is None:
            return None
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def describe(classification: Classification, action: str) -> str:
    """A condition message: what failed, Azure's code and message, and what to do about it."""
    hint = {
        Category.FORBIDDEN: "grant the operator's identity access (e.g. Contributor) on the resource",
        Category.THROTTLED: "ARM is throttling requests; the operator will retry after the advised delay",
        Category.RETRIABLE: "the operator will retry",
        Category.NOT_FOUND: "check that the resource exists and the id is right",
        Category.TERMINAL: (
            "fix the spec or the Azure resource; the operator re-checks every AZBATCH_POLL_SLOW_SECONDS"
        ),
    }[classification.category]
    detail = f": {classification.message}" if classification.message else ""
    return f"{action} failed with {classification.code}{detail} ({hint})"
