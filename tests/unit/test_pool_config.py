"""The pool configuration core: spec + Secrets -> Azure's pool, the diff, and the update step.

The property tests pin the one promise the diff makes: a pool Azure reports exactly as the spec
describes it (give or take what Batch adds or hides on its own) needs no PATCH, for any spec.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.api import BatchPoolSpec
from azbatch_operator.reconcile import pool_config, pool_diff, pool_update
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.names import ObjectMeta
from azbatch_operator.reconcile.plan import Stall, UpdatePool
from azbatch_operator.settings import Settings
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, NOW, SUB

META = ObjectMeta("team-a", "render", "uid-1", 3)
IMAGE = f"{GALLERY_ID}/images/render/versions/1.0.0"
UAI = f"/subscriptions/{SUB}/resourceGroups/id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/p"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
POOL_ID = f"{ACCOUNT_ID}/pools/render"
SETTINGS = Settings()
CANARY = "canary-Zm9vYmFy-value"


def ref(name: str, key: str) -> dict[str, Any]:
    return {"secretRef": {"name": name, "key": key}}


def spec(**fields: Any) -> BatchPoolSpec:
    body: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "vmSize": "Standard_D4s_v5",
        "nodeAgentSkuId": "batch.node.ubuntu 24.04",
        "image": {"id": IMAGE},
        "scale": {"fixed": {"targetDedicatedNodes": 2}},
    }
    body.update(fields)
    return BatchPoolSpec.model_validate(body)


def values(*pairs: tuple[str, str], version: str = "1") -> pool_config.SecretValues:
    return pool_config.SecretValues({pair: CANARY for pair in pairs}, {name: version for name, _ in pairs})


def strip_secrets(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_secrets(v) for k, v in node.items() if k not in pool_config.SECRET_FIELDS}
    if isinstance(node, list):
        return [strip_secrets(v) for v in node]
    return node


def azure_view(desired: dict[str, Any], nodes: int = 2) -> dict[str, Any]:
    """The pool as Batch reports it after a PUT of ``desired``: secrets gone, defaults and read-only
    fields added, case of ARM ids and VM sizes as Azure likes it."""
    body = strip_secrets(copy.deepcopy(desired))
    props = body["properties"]
    props["vmSize"] = props["vmSize"].lower()
    for key, default in (
        ("taskSlotsPerNode", 1),
        ("interNodeCommunication", "Disabled"),
        ("taskSchedulingPolicy", {"nodeFillType": "Spread"}),
    ):
        props.setdefault(key, default)
    if "startTask" in props:
        props["startTask"].setdefault("maxTaskRetryCount", 0)
        props["startTask"].setdefault("waitForSuccess", True)
    vmc = props["deploymentConfiguration"]["virtualMachineConfiguration"]
    vmc["imageReference"]["id"] = vmc["imageReference"]["id"].upper()
    props.update(
        {
            "provisioningState": "Succeeded",
            "allocationState": "Steady",
            "currentDedicatedNodes": nodes,
            "currentLowPriorityNodes": 0,
            "currentNodeCommunicationMode": "Simplified",
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": nodes, "targetLowPriorityNodes": 0}},
        }
    )
    if "identity" in body:
        body["identity"]["userAssignedIdentities"] = {
            k.lower(): {"principalId": "p", "clientId": "c"}
            for k in body["identity"]["userAssignedIdentities"]
        }
    body.update({"id": POOL_ID, "name": "render", "etag": 'W/"1"'})
    return body


# ----------------------------------------------------------------------------- config


def test_vm_configuration_members_are_nested_back_and_secrets_resolved() -> None:
    s = spec(
        containerConfiguration={
            "type": "DockerCompatible",
            "containerRegistries": [
                {"registryServer": "x.azurecr.io", "username": "u", "password": ref("acr", "pw")}
            ],
        },
        securityProfile={"securityType": "trustedLaunch", "uefiSettings": {"secureBootEnabled": True}},
        networkConfiguration={"subnetId": SUBNET},
        identity={"userAssignedIdentities": [UAI]},
        tags={"team": "render"},
        metadata=[{"name": "team", "value": "render"}],
    )
    body = pool_config.desired_pool(META, s, IMAGE, values(("acr", "pw")))
    vmc = body["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vmc["imageReference"] == {"id": IMAGE}
    assert vmc["securityProfile"]["securityType"] == "trustedLaunch"
    assert vmc["containerConfiguration"]["containerRegistries"][0]["password"] == CANARY
    assert "containerConfiguration" not in body["properties"]
    assert body["properties"]["networkConfiguration"] == {"subnetId": SUBNET}
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {UAI: {}}}
    assert body["tags"] == {"team": "render"}
    meta = body["properties"]["metadata"]
    assert [m["name"] for m in meta] == ["azbatch.io-owner", "azbatch.io-uid", "team"]
    assert "scaleSettings" not in body["properties"]


def test_secret_references_are_listed_by_field_without_values() -> None:
    s = spec(
        userAccounts=[{"name": "u1", "password": ref("users", "u1")}],
        mountConfiguration=[
            {
                "azureBlobFileSystemConfiguration": {
                    "accountName": "data",
                    "containerName": "c",
                    "relativeMountPath": "d",
                    "sasKey": ref("storage", "sas"),
                }
            }
        ],
    )
    assert pool_config.secret_refs_by_field(s) == {
        "mountConfiguration": (("storage", "sas"),),
        "userAccounts": (("users", "u1"),),
    }
    with pytest.raises(pool_config.MissingSecret) as exc:
        pool_config.desired_pool(META, s, IMAGE, values(("users", "u1")))
    assert "storage" in str(exc.value)
    assert CANARY not in str(exc.value)


def test_protected_settings_must_be_a_json_object_and_never_echo_the_value() -> None:
    s = spec(
        extensions=[{"name": "e", "publisher": "p", "type": "t", "protectedSettings": ref("ext", "json")}]
    )
    ok = pool_config.desired_pool(
        META, s, IMAGE, pool_config.SecretValues({("ext", "json"): '{"token": "x"}'}, {"ext": "1"})
    )
    assert ok["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]["extensions"][0][
        "protectedSettings"
    ] == {"token": "x"}
    with pytest.raises(pool_config.InvalidSecret) as exc:
        pool_config.desired_pool(META, s, IMAGE, values(("ext", "json")))
    assert CANARY not in str(exc.value)


# ----------------------------------------------------------------------------- diff: properties

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
text = st.text(min_size=1, max_size=30)
secret = st.builds(ref, names, names)
identity_ref = st.just({"resourceId": UAI})

resource_file = st.one_of(
    st.fixed_dictionaries({"httpUrl": st.just("https://a.blob.core.windows.net/c/f"), "filePath": names}),
    st.fixed_dictionaries(
        {"storageContainerUrl": st.just("https://a.blob.core.windows.net/c")},
        optional={"blobPrefix": names, "identityReference": identity_ref},
    ),
)
start_task = st.fixed_dictionaries(
    {"commandLine": text},
    optional={
        "resourceFiles": st.lists(resource_file, max_size=3),
        "environmentSettings": st.lists(st.fixed_dictionaries({"name": names, "value": text}), max_size=3),
        "maxTaskRetryCount": st.integers(-1, 100),
        "waitForSuccess": st.booleans(),
        "userIdentity": st.just({"autoUser": {"scope": "Pool", "elevationLevel": "Admin"}}),
    },
)
mount = st.one_of(
    st.fixed_dictionaries(
        {
            "azureBlobFileSystemConfiguration": st.fixed_dictionaries(
                {
                    "accountName": st.just("data"),
                    "containerName": st.just("inputs"),
                    "relativeMountPath": names,
                    "identityReference": identity_ref,
                }
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "azureFileShareConfiguration": st.fixed_dictionaries(
                {
                    "accountName": st.just("data"),
                    "azureFileUrl": st.just("https://data.file.core.windows.net/s"),
                    "accountKey": secret,
                    "relativeMountPath": names,
                }
            )
        }
    ),
    st.fixed_dictionaries(
        {"nfsMountConfiguration": st.fixed_dictionaries({"source": text, "relativeMountPath": names})}
    ),
)
registry = st.one_of(
    st.fixed_dictionaries({"registryServer": st.just("x.azurecr.io"), "identityReference": identity_ref}),
    st.fixed_dictionaries({"registryServer": st.just("y.io"), "username": names, "password": secret}),
)
optional_fields = {
    "displayName": text,
    "startTask": start_task,
    "networkConfiguration": st.fixed_dictionaries(
        {"subnetId": st.just(SUBNET)}, optional={"enableAcceleratedNetworking": st.booleans()}
    ),
    "mountConfiguration": st.lists(mount, max_size=3),
    "containerConfiguration": st.fixed_dictionaries(
        {"type": st.sampled_from(["DockerCompatible", "CriCompatible"])},
        optional={
            "containerImageNames": st.lists(names, max_size=3),
            "containerRegistries": st.lists(registry, max_size=2),
        },
    ),
    "taskSlotsPerNode": st.integers(1, 256),
    "taskSchedulingPolicy": st.fixed_dictionaries({"nodeFillType": st.sampled_from(["Spread", "Pack"])}),
    "userAccounts": st.lists(
        st.fixed_dictionaries(
            {"name": names, "password": secret},
            optional={"elevationLevel": st.sampled_from(["Admin", "NonAdmin"])},
        ),
        max_size=2,
        unique_by=lambda u: u["name"],
    ),
    "applicationPackages": st.lists(
        st.fixed_dictionaries({"id": names.map(lambda n: f"{ACCOUNT_ID}/applications/{n}")}), max_size=3
    ),
    "metadata": st.lists(
        st.fixed_dictionaries({"name": names, "value": text}), max_size=4, unique_by=lambda m: m["name"]
    ),
    "securityProfile": st.fixed_dictionaries(
        {"securityType": st.just("trustedLaunch")},
        optional={"uefiSettings": st.fixed_dictionaries({"secureBootEnabled": st.booleans()})},
    ),
    "osDisk": st.fixed_dictionaries(
        {}, optional={"caching": st.sampled_from(["None", "ReadOnly"]), "diskSizeGB": st.integers(30, 1024)}
    ),
    "dataDisks": st.lists(
        st.fixed_dictionaries({"lun": st.integers(0, 63), "diskSizeGB": st.integers(1, 4096)}),
        max_size=3,
        unique_by=lambda d: d["lun"],
    ),
    "nodePlacementConfiguration": st.fixed_dictionaries({"policy": st.sampled_from(["Regional", "Zonal"])}),
    "interNodeCommunication": st.sampled_from(["Enabled", "Disabled"]),
    "upgradePolicy": st.fixed_dictionaries({"mode": st.sampled_from(["automatic", "manual"])}),
    "identity": st.just({"userAssignedIdentities": [UAI]}),
    "tags": st.dictionaries(names, text, max_size=3),
}
specs = st.fixed_dictionaries({}, optional=optional_fields).map(lambda fields: spec(**fields))


def all_values(s: BatchPoolSpec) -> pool_config.SecretValues:
    return values(*pool_config.secret_refs(s))


@settings(max_examples=300, deadline=None)
@given(specs)
def test_a_pool_that_matches_its_spec_needs_no_patch(s: BatchPoolSpec) -> None:
    desired = pool_config.desired_pool(META, s, IMAGE, all_values(s))
    found = pool_diff.diff(desired, azure_view(desired))
    assert not found.changed, (found.live_fields, found.empty_fields)
    assert found.patch(include_empty=True) == {}


@settings(max_examples=200, deadline=None)
@given(specs, text)
def test_a_changed_start_task_is_the_only_thing_patched(s: BatchPoolSpec, command: str) -> None:
    desired = pool_config.desired_pool(META, s, IMAGE, all_values(s))
    actual = azure_view(desired)
    actual["properties"]["startTask"] = {"commandLine": command + " (changed out of band)"}
    found = pool_diff.diff(desired, actual)
    assert found.live_fields == ("startTask",)
    assert found.empty_fields == ()
    assert set(found.patch(include_empty=False)["properties"]) == {"startTask"}


@settings(max_examples=200, deadline=None)
@given(specs)
def test_a_pool_with_another_vm_size_differs_only_in_an_empty_pool_property(s: BatchPoolSpec) -> None:
    desired = pool_config.desired_pool(META, s, IMAGE, all_values(s))
    actual = azure_view(desired)
    actual["properties"]["vmSize"] = "standard_d8s_v5"
    found = pool_diff.diff(desired, actual)
    assert found.live_fields == ()
    assert found.empty_fields == ("vmSize",)
    assert found.patch(include_empty=True) == {"properties": {"vmSize": "Standard_D4s_v5"}}


def test_out_of_band_metadata_and_packages_are_reverted_with_owner_entries_kept() -> None:
    s = spec(metadata=[{"name": "team", "value": "render"}])
    desired = pool_config.desired_pool(META, s, IMAGE)
    actual = azure_view(desired)
    actual["properties"]["metadata"].append({"name": "sneaky", "value": "1"})
    actual["properties"]["applicationPackages"] = [{"id": f"{ACCOUNT_ID}/applications/x"}]
    found = pool_diff.diff(desired, actual)
    assert found.live_fields == ("applicationPackages", "metadata")
    body = found.patch(include_empty=False)["properties"]
    assert body["applicationPackages"] == []
    assert [m["name"] for m in body["metadata"]] == ["azbatch.io-owner", "azbatch.io-uid", "team"]


def test_a_start_task_removed_from_the_spec_is_removed_as_batch_documents() -> None:
    desired = pool_config.desired_pool(META, spec(), IMAGE)
    actual = azure_view(desired)
    actual["properties"]["startTask"] = {"commandLine": "added out of band"}
    assert pool_diff.diff(desired, actual).patch(False) == {"properties": {"startTask": {}}}


def test_identity_and_tags_compare_as_sets_and_maps() -> None:
    s = spec(identity={"userAssignedIdentities": [UAI]}, tags={"a": "1"})
    desired = pool_config.desired_pool(META, s, IMAGE)
    actual = azure_view(desired)
    assert not pool_diff.diff(desired, actual).changed
    actual["identity"] = {"type": "None"}
    actual["tags"] = {"a": "2"}
    found = pool_diff.diff(desired, actual)
    assert found.live_fields == ("identity", "tags")
    assert found.patch(False)["identity"] == desired["identity"]


def test_image_and_vm_configuration_members_are_named_as_in_the_spec() -> None:
    desired = pool_config.desired_pool(META, spec(osDisk={"caching": "ReadOnly"}), IMAGE)
    actual = azure_view(desired)
    vmc = actual["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    vmc["imageReference"] = {"id": IMAGE.replace("1.0.0", "0.9.0")}
    vmc["osDisk"] = {"caching": "None"}
    found = pool_diff.diff(desired, actual)
    assert found.empty_fields == ("image", "osDisk")
    assert (
        found.patch(True)["properties"]["deploymentConfiguration"]
        == desired["properties"]["deploymentConfiguration"]
    )


# ----------------------------------------------------------------------------- update step


def plan(s: BatchPoolSpec, actual: dict[str, Any], status: dict[str, Any] | None = None, **kw: Any) -> Any:
    config = pool_update.DesiredConfig.build(META, s, IMAGE, kw.pop("secrets", None) or all_values(s))
    return pool_update.plan_update(3, NOW, POOL_ID, s, config, actual, status or {}, {}, SETTINGS)


def test_live_change_is_one_patch_with_only_what_differs() -> None:
    s = spec(startTask={"commandLine": "new"})
    actual = azure_view(pool_config.desired_pool(META, spec(startTask={"commandLine": "old"}), IMAGE))
    result = plan(s, actual)
    assert isinstance(result.action, UpdatePool)
    assert result.action.params == {"properties": {"startTask": {"commandLine": "new"}}}
    assert result.conditions[0]["reason"] == Reason.UPDATING


def test_empty_pool_change_on_a_pool_with_nodes_stalls_naming_fields() -> None:
    actual = azure_view(pool_config.desired_pool(META, spec(), IMAGE), nodes=4)
    result = plan(spec(vmSize="Standard_D8s_v5", taskSlotsPerNode=4), actual)
    assert isinstance(result.action, Stall)
    assert result.action.reason == Reason.UPDATE_REQUIRES_EMPTY_POOL
    assert "vmSize, taskSlotsPerNode" in result.action.message
    assert "it has 4" in result.action.message
    assert "targetDedicatedNodes" in result.action.message


def test_manual_says_how_to_opt_in_to_a_rollout() -> None:
    """(BlueGreen / ScaleToZero are carried out by reconcile/rollout.py, tests/unit/test_rollout.py.)"""
    actual = azure_view(pool_config.desired_pool(META, spec(), IMAGE), nodes=4)
    result = plan(spec(vmSize="Standard_D8s_v5"), actual)
    assert isinstance(result.action, Stall)
    assert "spec.updateStrategy.type to BlueGreen" in result.action.message
    assert "ScaleToZero" in result.action.message


def test_empty_pool_change_on_an_empty_pool_is_patched_with_the_live_ones() -> None:
    actual = azure_view(pool_config.desired_pool(META, spec(), IMAGE), nodes=0)
    result = plan(spec(vmSize="Standard_D8s_v5", metadata=[{"name": "a", "value": "b"}]), actual)
    assert isinstance(result.action, UpdatePool)
    assert set(result.action.params["properties"]) == {"vmSize", "metadata"}
    assert result.action.fields == ("metadata", "vmSize")


def test_target_zero_lets_the_resize_planner_empty_the_pool_first() -> None:
    actual = azure_view(pool_config.desired_pool(META, spec(), IMAGE), nodes=4)
    s = spec(vmSize="Standard_D8s_v5", scale={"fixed": {"targetDedicatedNodes": 0}})
    assert plan(s, actual) is None


def test_rotated_secret_resends_its_field_and_records_versions_not_values() -> None:
    s = spec(
        startTask={
            "commandLine": "x",
            "containerSettings": {
                "imageName": "i",
                "registry": {"username": "u", "password": ref("acr", "pw")},
            },
        }
    )
    desired = pool_config.desired_pool(META, s, IMAGE, values(("acr", "pw")))
    actual = azure_view(desired)
    assert plan(s, actual, {"secretVersions": {"acr/pw": "1"}}, secrets=values(("acr", "pw"))) is None
    rotated = plan(s, actual, {"secretVersions": {"acr/pw": "1"}}, secrets=values(("acr", "pw"), version="2"))
    assert isinstance(rotated.action, UpdatePool)
    assert rotated.action.fields == ("startTask",)
    assert rotated.status["secretVersions"] == {"acr/pw": "2"}
    assert CANARY not in repr(rotated.status)
    assert CANARY not in repr(rotated.conditions)


def test_adoption_compares_the_whole_configuration() -> None:
    s = spec(startTask={"commandLine": "x"})
    config = pool_update.DesiredConfig.build(META, s, IMAGE)
    foreign = azure_view(pool_config.desired_pool(ObjectMeta("other", "p", "uid-2"), s, IMAGE))
    foreign["properties"]["metadata"] = []  # a pool nobody owns
    assert pool_update.adoption_differences(config, foreign) == []
    foreign["properties"]["startTask"] = {"commandLine": "y"}
    foreign["properties"]["vmSize"] = "standard_d2s_v5"
    assert pool_update.adoption_differences(config, foreign) == ["vmSize", "startTask"]


# ----------------------------------------------------------------------------- the planner hooks


def whole(s: BatchPoolSpec, actual: dict[str, Any] | None, status: dict[str, Any] | None = None) -> Any:
    from azbatch_operator.reconcile.pool_plan import AccountInfo, ResolvedImage, plan_pool

    config = pool_update.DesiredConfig.build(META, s, IMAGE, all_values(s))
    account = AccountInfo(ACCOUNT_ID, "westeurope", "BatchService")
    image = ResolvedImage(IMAGE, target_regions=("westeurope",))
    return plan_pool(META, s, status or {}, image, account, actual, None, NOW, SETTINGS, config=config)


def test_create_puts_the_whole_configuration_with_scale_and_records_secret_versions() -> None:
    from azbatch_operator.reconcile.plan import CreatePool

    s = spec(
        startTask={"commandLine": "setup"},
        userAccounts=[{"name": "u", "password": ref("users", "u")}],
        tags={"a": "b"},
    )
    result = whole(s, None)
    assert isinstance(result.action, CreatePool)
    props = result.action.params["properties"]
    assert props["scaleSettings"]["fixedScale"]["targetDedicatedNodes"] == 2
    assert props["startTask"] == {"commandLine": "setup"}
    assert props["userAccounts"][0]["password"] == CANARY
    assert result.action.params["tags"] == {"a": "b"}
    assert [m["name"] for m in props["metadata"]] == ["azbatch.io-owner", "azbatch.io-uid"]
    assert result.status["secretVersions"] == {"users/u": "1"}
    assert CANARY not in repr(result.status) + repr(result.conditions)


def test_a_foreign_pool_that_differs_is_never_adopted_or_changed() -> None:
    from azbatch_operator.reconcile.plan import AdoptPool

    s = spec(startTask={"commandLine": "x"})
    foreign = azure_view(pool_config.desired_pool(META, spec(startTask={"commandLine": "y"}), IMAGE))
    foreign["properties"]["metadata"] = []
    stalled = whole(s, foreign)
    assert isinstance(stalled.action, Stall)
    assert stalled.action.reason is Reason.INVALID_SPEC
    assert "differs from the spec: also startTask" in stalled.action.message
    foreign["properties"]["startTask"] = {"commandLine": "x"}
    assert isinstance(whole(s, foreign).action, AdoptPool)


def test_our_pool_with_a_new_vm_size_is_updated_not_called_invalid() -> None:
    s = spec(vmSize="Standard_D8s_v5", scale={"fixed": {"targetDedicatedNodes": 0}})
    actual = azure_view(pool_config.desired_pool(META, spec(), IMAGE), nodes=0)
    result = whole(s, actual, {"poolId": POOL_ID})
    assert isinstance(result.action, UpdatePool)
    assert result.action.params == {"properties": {"vmSize": "Standard_D8s_v5"}}


# ----------------------------------------------------------------------------- trusted launch preflight


def definition(generation: str = "V2", feature: str | None = "TrustedLaunchSupported") -> dict[str, Any]:
    props: dict[str, Any] = {"hyperVGeneration": generation}
    if feature is not None:
        props["features"] = [{"name": "SecurityType", "value": feature}]
    return {"id": IMAGE.rsplit("/versions/", 1)[0], "properties": props}


@pytest.mark.parametrize(
    ("security_type", "found", "problem"),
    [
        ("trustedLaunch", definition(), None),
        ("trustedLaunch", definition(feature="TrustedLaunchAndConfidentialVmSupported"), None),
        ("confidentialVM", definition(feature="ConfidentialVmSupported"), None),
        ("trustedLaunch", definition(generation="V1"), "needs a Generation 2 image"),
        ("trustedLaunch", definition(feature=None), "SecurityType feature TrustedLaunchSupported"),
        ("confidentialVM", definition(), "SecurityType feature ConfidentialVmSupported"),
        (None, definition(generation="V1", feature=None), None),
    ],
)
def test_security_profile_must_fit_the_image(
    security_type: str | None, found: Any, problem: str | None
) -> None:
    s = spec(securityProfile={"securityType": security_type} if security_type else None)
    said = pool_config.security_problem(s, IMAGE, found)
    if problem is None:
        assert said is None
    else:
        assert said is not None
        assert problem in said


def test_gallery_definition_of_a_version() -> None:
    assert pool_config.gallery_definition_id(IMAGE) == IMAGE.rsplit("/versions/", 1)[0]
    assert pool_config.gallery_definition_id(f"{SUB}/providers/Microsoft.Compute/images/x") is None


def test_create_body_always_carries_the_resolved_image() -> None:
    from azbatch_operator.reconcile.plan import CreatePool
    from azbatch_operator.reconcile.pool_plan import AccountInfo, ResolvedImage, plan_pool

    s = spec(startTask={"commandLine": "x"})
    config = pool_update.DesiredConfig.build(META, s, None)  # built before the image was resolved
    account = AccountInfo(ACCOUNT_ID, "westeurope", "BatchService")
    image = ResolvedImage(IMAGE, target_regions=("westeurope",))
    result = plan_pool(META, s, {}, image, account, None, None, NOW, SETTINGS, config=config)
    assert isinstance(result.action, CreatePool)
    vmc = result.action.params["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vmc["imageReference"] == {"id": IMAGE}
    assert result.action.params["properties"]["startTask"] == {"commandLine": "x"}


def test_a_pool_found_again_after_a_crash_is_not_taken_for_a_rotation() -> None:
    """The PUT went out with the current Secrets, the status write did not: finding the pool (ours
    by its owner stamp) records the versions, so no pass re-sends (or stalls on) the secret-bearing
    fields."""
    s = spec(userAccounts=[{"name": "u", "password": ref("users", "u")}])
    actual = azure_view(pool_config.desired_pool(META, s, IMAGE, all_values(s)), nodes=2)
    found = whole(s, actual)
    assert not isinstance(found.action, (UpdatePool, Stall))
    assert found.status["poolId"] == POOL_ID
    assert found.status["secretVersions"] == {"users/u": "1"}
    after = whole(s, actual, {"poolId": POOL_ID, "secretVersions": found.status["secretVersions"]})
    assert not isinstance(after.action, (UpdatePool, Stall))


def test_our_pool_stripped_of_its_stamp_and_drifted_is_restored_in_one_patch() -> None:
    """An out-of-band edit replaced the metadata (the owner stamp with it) and the start task: the
    pool recorded in status is still ours, and one PATCH restores both; no second write re-adopts."""
    from azbatch_operator.reconcile import names

    s = spec(metadata=[{"name": "tier", "value": "gold"}])
    actual = azure_view(pool_config.desired_pool(META, s, IMAGE, all_values(s)), nodes=2)
    actual["properties"]["metadata"] = [{"name": "team", "value": "someone-else"}]
    actual["properties"]["startTask"] = {"commandLine": "tampered"}
    plan = whole(s, actual, {"poolId": POOL_ID})
    assert isinstance(plan.action, UpdatePool)
    sent = plan.action.params["properties"]
    assert {e["name"] for e in sent["metadata"]} == {"tier", names.OWNER_TAG, names.UID_TAG}
    assert "startTask" in sent


def test_a_missing_or_unusable_secret_stalls_before_azure_and_names_only_the_secret() -> None:
    meta = ObjectMeta("team-a", "cfg", "uid-1", 3)
    settings = Settings(poll_fast_seconds=7, poll_slow_seconds=900)
    missing = pool_config.secret_stall(meta, pool_config.MissingSecret("creds", "token"), NOW, settings)
    assert isinstance(missing.action, Stall)
    assert missing.action.reason == Reason.SECRET_NOT_FOUND
    assert missing.requeue_after == 7, "a Secret may be created any moment: the fast poll"
    assert missing.status == {"observedGeneration": 3}
    assert missing.action.message.startswith(
        "key 'token' of Secret 'creds' does not exist in namespace team-a:"
    )
    assert "create it (or fix the secretRef)" in missing.action.message
    invalid = pool_config.secret_stall(
        meta, pool_config.InvalidSecret("key 'k' is not UTF-8 text"), NOW, settings
    )
    assert isinstance(invalid.action, Stall)
    assert invalid.action.reason == Reason.INVALID_SPEC
    assert invalid.action.message == "key 'k' is not UTF-8 text"
    assert invalid.requeue_after == 900
