"""kopf keeps no diff base for our objects: every object counts as already seen, nothing is stored."""

from __future__ import annotations

import kopf
import pytest

from azbatch_operator.handlers.lifecycle import NoDiffBase

pytestmark = pytest.mark.unit


def body(target: int) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "azbatch.io/v1alpha1",
            "kind": "BatchPool",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"team": "render"}},
            "spec": {"scale": {"fixed": {"targetDedicatedNodes": target}}},
            "status": {"poolId": "/x"},
        }
    )


def test_every_spec_is_taken_as_the_last_handled_one_and_nothing_is_written() -> None:
    storage = NoDiffBase()
    for target in (1, 800):
        b = body(target)
        assert storage.fetch(body=b) == storage.build(body=b)  # no creation, no update cause
        patch = kopf.Patch()
        storage.store(body=b, patch=patch, essence=storage.build(body=b))
        assert not patch, "no status write (kopf's default would store the spec under status.kopf)"
