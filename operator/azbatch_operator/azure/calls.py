"""Every Azure call goes through `arm()`: SDK exceptions become one classified error type.

Callers then decide with `reconcile.errors` categories, never with SDK exception classes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from azbatch_operator import metrics
from azbatch_operator.reconcile.errors import Category, Classification, classify

T = TypeVar("T")


class AzureCallError(Exception):
    """A failed Azure call, already classified (retriable / throttled / terminal / ...)."""

    def __init__(self, operation: str, classification: Classification) -> None:
        self.operation = operation
        self.classification = classification
        super().__init__(f"{operation}: {classification.code}: {classification.message}")

    @property
    def not_found(self) -> bool:
        return self.classification.category is Category.NOT_FOUND


def classify_exception(exc: BaseException) -> Classification:
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        # The token request itself failed (wrong secret, unknown tenant): nobody can fix it but a human.
        return classify(401, "AuthenticationFailed", _first_line(str(exc)))
    if isinstance(exc, HttpResponseError):
        response = exc.response
        status = response.status_code if response is not None else exc.status_code
        code = exc.error.code if exc.error is not None else None
        message = exc.error.message if exc.error is not None else _first_line(exc.message or str(exc))
        headers = getattr(response, "headers", None) or {}
        retry_after = headers.get("Retry-After")
        return classify(status, code, message or "", retry_after)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, TimeoutError, ConnectionError)):
        return classify(None, None, _first_line(str(exc)) or type(exc).__name__)
    raise exc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


async def arm(operation: str, call: Awaitable[T]) -> T:
    """Await one SDK call; raise AzureCallError with a classification on failure."""
    try:
        return await call
    except (
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
        TimeoutError,
        ConnectionError,
    ) as exc:
        classification = classify_exception(exc)
        if classification.code == "NoResponse":
            metrics.observe_no_response(operation)
        raise AzureCallError(operation, classification) from exc


async def arm_get(operation: str, call: Awaitable[T]) -> T | None:
    """A GET where "not there" is an answer, not an error."""
    try:
        return await arm(operation, call)
    except AzureCallError as exc:
        if exc.not_found:
            return None
        raise


__all__ = ["AzureCallError", "ResourceNotFoundError", "arm", "arm_get", "classify_exception"]
