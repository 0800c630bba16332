"""Race campaign: objects deleted at random moments of their create path.

60 seeded trials (40 BatchPools on a seeded gallery version, 20 ManagedImages from snapshots,
published to the gallery) are applied to an operator of the test's own while the simulator holds
every PUT to this test's resource groups for DELAY_MS before handling it, so a create is in flight
(GET still says 404) for a while. Each trial's object is deleted at a seeded random moment between
right after its apply and a few seconds later (while its PUTs are in flight, between steps, or once
it is Ready); a quarter of them are kept. The operator is also SIGKILLed (and restarted at once) a
few times during the schedule: a PUT it sent then lands after the next process's finalizer looked,
which only the create recorded in `status.operations` before the PUT can tell it to wait for.

Afterwards the simulator must hold exactly the resources of the objects that still exist: no pool,
image or gallery version of a deleted object (0 leaked) and every resource of a kept one (0 deleted
that belong to live objects). The seed is printed, so a failing draw can be replayed
(AZBATCH_RACE_SEED=<seed>).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.e2e.campaign_support import (
    IMAGE_TYPE,
    SNAPSHOT_TYPE,
    VERSION_TYPE,
    apply_all,
    assert_nothing_left,
    big_world,
    delete_all,
    inventory,
    objects,
    pool,
    ready,
    seeded_snapshots,
    wait_until,
)
from tests.e2e.conftest import SimulatorHandle, isolated_operator
from tests.e2e.test_batch_pool_resize import POOL_TYPE
from tests.e2e.test_smoke_flow import image_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

POOLS, IMAGES = 40, 20
KEEP_FRACTION = 0.25
#: How long the simulator holds each PUT before handling it: the window in which a create is sent
#: but Azure does not show the resource yet.
DELAY_MS = 6000
#: Deletions land between right after the apply and this many seconds later.
LATEST_DELETE_SECONDS = 8.0
#: Operator SIGKILLs during the schedule (each restarted at once).
KILLS = 4
#: A recorded create is waited for this long (it only has to outlast DELAY_MS and a restart).
CREATE_GRACE_SECONDS = 30


@dataclass(frozen=True)
class Trial:
    kind: str
    name: str
    doc: dict[str, Any]
    delete_after: float | None  # None: kept


def trials(rng: random.Random, world: Any, version: str) -> list[Trial]:
    out = []
    for i in range(POOLS):
        doc = pool(world, f"p{i:02d}", image_id=version, nodes=rng.choice([1, 2, 3]))
        out.append(Trial("batchpool", f"p{i:02d}", doc, None))
    for i in range(IMAGES):
        out.append(Trial("managedimage", f"img{i:02d}", image_manifest(world, f"img{i:02d}"), None))
    kept = set(rng.sample(range(len(out)), round(len(out) * KEEP_FRACTION)))
    return [
        Trial(t.kind, t.name, t.doc, None if i in kept else rng.uniform(0.0, LATEST_DELETE_SECONDS))
        for i, t in enumerate(out)
    ]


def run_schedule(
    kubectl: Kubectl, namespace: str, rng: random.Random, plan: list[Trial], operator: Operator
) -> None:
    """Apply each trial's object and delete it `delete_after` seconds later, interleaved, with
    KILLS operator SIGKILLs at random moments."""
    events: list[tuple[float, str, Trial | None]] = []
    start = 0.0
    for trial in rng.sample(plan, len(plan)):
        start += rng.uniform(0.05, 0.3)
        events.append((start, "apply", trial))
        if trial.delete_after is not None:
            events.append((start + trial.delete_after, "delete", trial))
    events += [(rng.uniform(1.0, start), "kill", None) for _ in range(KILLS)]
    events.sort(key=lambda e: e[0])
    t0 = time.monotonic()
    for at, action, trial in events:
        wait = at - (time.monotonic() - t0)
        if wait > 0:
            time.sleep(wait)
        if trial is None:
            operator.kill()
            operator.start(wait_ready=False)
        elif action == "apply":
            apply_all(kubectl, [trial.doc])
        else:
            kubectl.run("delete", trial.kind, trial.name, "-n", namespace, "--wait=false")


def test_deleting_objects_during_their_creates_leaks_nothing_and_deletes_nothing_live(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("AZBATCH_RACE_SEED") or random.SystemRandom().randrange(10**6))
    print(f"race campaign seed {seed}")
    rng = random.Random(seed)
    admin = simulator.admin
    world, version = big_world(admin, namespace, POOLS)
    plan = trials(rng, world, version)
    groups = "|".join(rg.lower() for rg in (world.images_rg, world.batch_rg))
    admin.faults({"method": "PUT", "pathRegex": f"/resourcegroups/({groups})/", "delayMs": DELAY_MS})
    log = tmp_path / "operator.log"
    try:
        with isolated_operator(
            control_plane, simulator, namespace, log, AZBATCH_CREATE_GRACE_SECONDS=str(CREATE_GRACE_SECONDS)
        ) as operator:
            run_schedule(kubectl, namespace, rng, plan, operator)
            kept = [t for t in plan if t.delete_after is None]
            kept_pools = {t.name for t in kept if t.kind == "batchpool"}
            kept_images = {t.name for t in kept if t.kind == "managedimage"}

            def settled() -> bool:
                pools = objects(kubectl, "batchpool", namespace)
                images = objects(kubectl, "managedimage", namespace)
                return (
                    {p["metadata"]["name"] for p in pools} == kept_pools
                    and {i["metadata"]["name"] for i in images} == kept_images
                    and all(ready(o) for o in pools + images)
                )

            wait_until("deleted objects gone, kept ones Ready", settled, timeout=300, every=2)

            have = inventory(admin, world)
            images = objects(kubectl, "managedimage", namespace)
            want = {
                POOL_TYPE.lower(): {world.pool_id(n).lower() for n in kept_pools},
                IMAGE_TYPE: {i["status"]["imageId"].lower() for i in images},
                VERSION_TYPE: {i["status"]["galleryImageVersionId"].lower() for i in images},
                SNAPSHOT_TYPE: seeded_snapshots(world),
            }
            leaked = {k: sorted(have.get(k, set()) - v) for k, v in want.items()}
            missing = {k: sorted(v - have.get(k, set())) for k, v in want.items()}
            n_leaked = sum(len(v) for v in leaked.values())
            n_missing = sum(len(v) for v in missing.values())
            print(
                f"race campaign: {len(plan)} trials ({len(plan) - len(kept)} deleted mid-create, "
                f"{len(kept)} kept, {KILLS} operator SIGKILLs): {n_leaked} leaked, {n_missing} deleted "
                "that belong to live objects"
            )
            assert n_leaked == 0, f"seed {seed}: leaked {leaked}"
            assert n_missing == 0, f"seed {seed}: missing {missing}"

            admin.clear_faults()
            delete_all(kubectl, namespace, timeout=180)
            assert_nothing_left(admin, world)
    finally:
        admin.clear_faults()
    assert_no_operator_traceback(log.read_text(errors="replace"))


def assert_no_operator_traceback(text: str) -> None:
    """No traceback through the operator's own code. kopf's own shutdown timeout (a daemon of an
    object deleted before its finalizer was stored, cancelled at SIGTERM) is kopf's and seen on
    main as well after SIGKILLs; it involves none of the operator's frames."""
    for block in text.split("Traceback (most recent call last):")[1:]:
        frames = block.split("\n[20", 1)[0]
        assert "azbatch_operator" not in frames, frames[:6000]


def test_a_create_in_flight_when_the_operator_dies_is_waited_for_and_deleted(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The pool PUT is sent, the operator is SIGKILLed before Azure answers, and the object is
    deleted while it is down: the next process's finalizer must not take "404" for "nothing there"."""
    admin = simulator.admin
    world, version = big_world(admin, namespace, 1)
    held_ms = 10_000
    admin.faults(
        {"method": "PUT", "pathRegex": f"/resourcegroups/{world.batch_rg.lower()}/", "delayMs": held_ms}
    )
    log = tmp_path / "operator.log"
    try:
        with isolated_operator(
            control_plane, simulator, namespace, log, AZBATCH_CREATE_GRACE_SECONDS=str(CREATE_GRACE_SECONDS)
        ) as operator:
            apply_all(kubectl, [pool(world, "inflight", image_id=version)])

            def recorded() -> bool:
                obj = kubectl.json("get", "batchpool/inflight", "-n", namespace)
                return any(
                    op.get("type") == "CreatePool" for op in (obj.get("status") or {}).get("operations") or []
                )

            wait_until("the create recorded in status", recorded, timeout=60, every=0.2)
            time.sleep(0.5)  # the PUT leaves right after the record; the simulator holds it
            operator.kill()
            assert admin.resource(world.pool_id("inflight")) is None  # still held in flight
            kubectl.run("delete", "batchpool", "inflight", "-n", namespace, "--wait=false")
            operator.start()
            wait_until("the object gone", lambda: not objects(kubectl, "batchpool", namespace), timeout=120)
            # The held PUT landed meanwhile (the simulator finishes it although the client died): the
            # finalizer waited for it and deleted the pool before releasing the object.
            assert admin.resource(world.pool_id("inflight")) is None
            assert not inventory(admin, world).get(POOL_TYPE.lower())
            writes = admin.requests()
            assert any(
                e["operation"] == "Pool_Delete" and world.batch_rg.lower() in str(e["path"]).lower()
                for e in writes["recent"]
            ), "the pool was never deleted: it did not exist when the object went"
    finally:
        admin.clear_faults()
