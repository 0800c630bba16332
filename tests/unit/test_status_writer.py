"""The one status writer (api/status.py): the status models are the CRDs' status schemas, a field
cleared is sent as null and a field not given is not sent, messages stay within their limits."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import pytest
import yaml

from azbatch_operator.api.common import MESSAGE_MAX, StatusModel
from azbatch_operator.api.status import STATUS_MODELS, status_patch
from azbatch_operator.reconcile import conditions
from tests.unit.builders import NOW, merge_patch

pytestmark = pytest.mark.unit

CRDS = Path(__file__).resolve().parents[2] / "crds"
#: kopf's own bookkeeping (written by kopf, never through a status model).
NOT_OURS = {"kopf"}


def status_schema(plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / f"{plural}.azbatch.io.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def _unwrap(annotation: Any) -> Any:
    """The type without ``Annotated`` and ``| None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            assert len(rest) == 1, annotation
            annotation = rest[0]
        else:
            return annotation


def model_shape(annotation: Any) -> Any:
    """The JSON shape a model field writes, in the CRD schema's terms."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, StatusModel):
        fields = annotation.model_fields
        return {
            "object": {(f.alias or name): model_shape(f.annotation) for name, f in fields.items()},
            "required": sorted((f.alias or name) for name, f in fields.items() if f.is_required()),
        }
    if origin is tuple:
        item, ellipsis = get_args(annotation)
        assert ellipsis is Ellipsis
        return {"array": model_shape(item)}
    if origin is dict:
        key, value = get_args(annotation)
        assert key is str
        return "any object" if value is Any else {"map": model_shape(value)}
    if origin is Literal:
        return {"string": sorted(get_args(annotation))}
    return {str: "string", int: "integer", bool: "boolean"}[annotation]


def crd_shape(schema: dict[str, Any]) -> Any:
    """The same shape, from the CRD's structural schema."""
    kind = schema["type"]
    if kind == "object":
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return "any object"
        if "additionalProperties" in schema:
            return {"map": crd_shape(schema["additionalProperties"])}
        props = schema.get("properties") or {}
        return {
            "object": {name: crd_shape(sub) for name, sub in props.items() if name not in NOT_OURS},
            "required": sorted(schema.get("required") or []),
        }
    if kind == "array":
        return {"array": crd_shape(schema["items"])}
    if kind == "string" and "enum" in schema:
        return {"string": sorted(schema["enum"])}
    return kind


def differences(model: Any, crd: Any, path: str = "status") -> list[str]:
    if isinstance(model, dict) and isinstance(crd, dict) and model.keys() == crd.keys():
        if "object" in model:
            found = []
            for name in sorted(model["object"].keys() | crd["object"].keys()):
                if name not in crd["object"]:
                    found.append(f"{path}.{name}: in the model, not in the CRD")
                elif name not in model["object"]:
                    found.append(f"{path}.{name}: in the CRD, not in the model")
                else:
                    found += differences(model["object"][name], crd["object"][name], f"{path}.{name}")
            if model["required"] != crd["required"]:
                found.append(
                    f"{path}: required {model['required']} in the model, {crd['required']} in the CRD"
                )
            return found
        (key,) = model
        if key in ("array", "map"):
            return differences(model[key], crd[key], f"{path}[]")
    return [] if model == crd else [f"{path}: {model} in the model, {crd} in the CRD"]


@pytest.mark.parametrize("plural", sorted(STATUS_MODELS))
def test_each_status_model_is_its_crds_status_schema(plural: str) -> None:
    model = model_shape(STATUS_MODELS[plural])
    assert differences(model, crd_shape(status_schema(plural))) == []


def test_the_comparison_names_each_difference() -> None:
    """A model against the other kind's schema: every field one has and the other lacks is named."""
    found = differences(model_shape(STATUS_MODELS["managedimages"]), crd_shape(status_schema("batchpools")))
    assert "status.poolId: in the CRD, not in the model" in found
    assert "status.usedBy: in the model, not in the CRD" in found
    assert not any(line.startswith(("status.conditions", "status.operations")) for line in found)


def test_a_cleared_field_is_sent_as_null_and_an_untouched_one_not_at_all() -> None:
    patch = status_patch(
        "batchpools",
        {"poolId": None, "resizeAttempts": 0, "rollout": {"phase": "Creating", "pool": None}},
    )
    assert patch == {"poolId": None, "resizeAttempts": 0, "rollout": {"phase": "Creating", "pool": None}}
    before = {"poolId": "p", "imageReference": "i", "rollout": {"phase": "Draining", "pool": {"x": 1}}}
    assert merge_patch(before, patch) == {
        "imageReference": "i",
        "resizeAttempts": 0,
        "rollout": {"phase": "Creating"},
    }
    assert status_patch("managedimages", {"operations": []}) == {"operations": []}
    assert status_patch("managedimages", {"imageId": None}) == {"imageId": None}


@pytest.mark.parametrize(
    "fields",
    [
        {"bogus": 1},
        {"rollout": {"phase": "Creating", "bogus": 1}},
        {"lastResizeError": {"code": "X", "detail": "y"}},
        {"operations": [{"type": "CreatePool", "resourceId": "r"}]},  # startedAt is required
        {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "R", "message": ""}]},
        {"usedBy": [{"namespace": "ns", "name": "n"}]},  # a ManagedImage field
    ],
)
def test_a_field_outside_the_crd_is_refused_not_pruned(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        status_patch("batchpools", fields)


def test_messages_are_cut_to_their_limits() -> None:
    long = "x" * 100_000
    cond = conditions.condition(conditions.READY, False, "R", "short", 1, NOW)
    patch = status_patch(
        "batchpools",
        {
            "conditions": [{**cond, "message": long}],
            "lastResizeError": {"code": "AllocationFailed", "message": long},
            "rollout": {"cause": long},
        },
    )
    message = patch["conditions"][0]["message"]
    assert message == conditions.bounded(long)
    assert len(message) <= MESSAGE_MAX
    assert message.endswith("(truncated)")
    schema = status_schema("batchpools")["properties"]
    limits = {
        "conditions": schema["conditions"]["items"]["properties"]["message"]["maxLength"],
        "lastResizeError": schema["lastResizeError"]["properties"]["message"]["maxLength"],
        "rollout": schema["rollout"]["properties"]["cause"]["maxLength"],
    }
    assert len(message) <= limits["conditions"]
    assert limits["rollout"] - 1 <= len(patch["rollout"]["cause"]) <= limits["rollout"]
    error = patch["lastResizeError"]["message"]
    assert limits["lastResizeError"] - 1 <= len(error) <= limits["lastResizeError"]
    # A message within its limit is sent as given.
    assert status_patch("batchpools", {"rollout": {"cause": "quota"}}) == {"rollout": {"cause": "quota"}}
