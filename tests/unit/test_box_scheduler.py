"""The box scheduler's decision (compute/box.py), GPU discovery at its boundary, and the ledger on both stores."""

from __future__ import annotations

import pytest

from runyard.compute import gpus
from runyard.box import Capacity, ForeignGpuPolicy, Grant, Request, fair_turn, plan, queue_order
from runyard.compute.box_settings import BoxSettings
from runyard.errors import InvalidValueError

GPUS = tuple(gpus.GpuDevice(str(i), f"GPU-{i}", "H100") for i in range(4))


def req(run_id: str, owner: str = "alice", priority: int = 0, at: float = 0.0, gpus: int = 0, cpus: int = 0,
        memory: int = 0) -> Request:
    return Request(run_id, owner, priority, at, gpus, cpus, memory)


def test_a_run_gets_all_its_gpus_at_once_or_none_and_the_reason_names_each_holder() -> None:
    capacity = Capacity(gpus=GPUS[:2])
    held = [Grant("X", "alice", ("GPU-0",))]
    decision = plan(capacity, held, [req("A", "carol", gpus=2)])
    assert decision.grants == []  # one GPU is free, but A needs two: it takes none
    assert decision.reasons["A"] == "waiting for 2 GPUs; GPU 0 held by run X (alice)"
    decision = plan(capacity, [Grant("X", "alice", ("GPU-0",)), Grant("Y", "bob", ("GPU-1",))], [req("A", gpus=2)])
    assert decision.reasons["A"] == "waiting for 2 GPUs; GPU 0 held by run X (alice); GPU 1 held by run Y (bob)"
    granted = plan(capacity, [], [req("A", gpus=2)]).grants
    assert granted == [Grant("A", "alice", ("GPU-0", "GPU-1"))]


def queued(requests: list[Request], held: list[Grant] = ()) -> list[Request]:
    """Each request queued in turn, taking its owner's turn as the ledger does."""
    queue: list[Request] = []
    for r in requests:
        queue.append(Request(**{**r.__dict__, "turn": fair_turn(r.owner, queue, list(held))}))
    return queue


def test_priority_first_then_owners_take_turns_then_submission_time() -> None:
    requests = [req(f"a{i}", "alice", at=i) for i in range(3)] + [req("b0", "bob", at=10),
                                                                  req("c0", "carol", 5, at=20)]
    assert [r.run_id for r in queue_order(queued(requests))] == ["c0", "a0", "b0", "a1", "a2"]
    # alice already held two runs when she queued hers: bob's single run goes before all of them
    held = [Grant("h1", "alice"), Grant("h2", "alice")]
    assert [r.run_id for r in queue_order(queued(requests, held))] == ["c0", "b0", "a0", "a1", "a2"]


def test_a_smaller_run_starts_ahead_only_on_what_the_head_does_not_need() -> None:
    capacity = Capacity(gpus=GPUS, cpus=4, cores=(0, 1, 2, 3))
    held = [Grant("X", "alice", ("GPU-0", "GPU-1", "GPU-2"), (0,))]
    queue = [req("head", "bob", at=1, gpus=2, cpus=1), req("small-gpu", "carol", at=2, gpus=1, cpus=1),
             req("cpu-only", "dave", at=3, cpus=1)]
    decision = plan(capacity, held, queue)
    # the free GPU is the head's to wait for, so the one-GPU run waits; a CPU-only run takes a spare slot
    assert [g.run_id for g in decision.grants] == ["cpu-only"]
    assert "behind run head (bob)" in decision.reasons["small-gpu"]
    assert decision.reasons["head"] == "waiting for 2 GPUs; GPU 0, GPU 1, GPU 2 held by run X (alice)"


def test_cpu_slots_memory_and_concurrent_runs_are_enforced_and_named() -> None:
    capacity = Capacity(cpus=2, cores=(4, 5), memory_mb=1000, max_concurrent_runs=3)
    decision = plan(capacity, [], [req("A", cpus=1, memory=600), req("B", "bob", cpus=1, memory=600, at=1)])
    assert [g.run_id for g in decision.grants] == ["A"] and decision.grants[0].cores == (4,)
    assert decision.reasons["B"] == "waiting for 600 MB of memory (limit 1000 MB: runs A (alice) 600 MB)"
    decision = plan(capacity, [Grant("A", "alice", (), (4, 5))], [req("B", cpus=2)])
    assert decision.reasons["B"] == "waiting for 2 CPU slots (limit 2: runs A (alice))"
    full = [Grant(n, "alice") for n in "XYZ"]
    assert plan(capacity, full, [req("B")]).reasons["B"].startswith("waiting for a run slot (max 3 concurrent runs")
    # no limits set: a CPU laptop starts everything at once
    assert len(plan(Capacity(), [], [req(str(i), cpus=1, memory=10**6) for i in range(20)]).grants) == 20


def test_a_gpu_another_program_uses_is_not_handed_out_unless_allowed() -> None:
    users = {"GPU-0": [4242]}
    decision = plan(Capacity(gpus=GPUS[:1]), [], [req("A", gpus=1)], users)
    assert decision.grants == []
    assert "GPU 0 used by a process runyard did not start (pid 4242" in decision.reasons["A"]
    allowed = Capacity(gpus=GPUS[:1], foreign_gpus=ForeignGpuPolicy.IGNORE)
    assert plan(allowed, [], [req("A", gpus=1)], users).grants[0].gpus == ("GPU-0",)


def test_nvidia_smi_listing_with_mig_slices_and_an_inherited_mask(tmp_path, monkeypatch) -> None:
    from tests.fake_gpus import install

    fake = install(tmp_path, monkeypatch, 3)
    fake.with_mig(fake.uuids[2], ["MIG-aaa", "MIG-bbb"])
    found = gpus.discover({})
    assert [(d.index, d.uuid) for d in found] == [("0", fake.uuids[0]), ("1", fake.uuids[1]), ("2:0", "MIG-aaa"),
                                                   ("2:1", "MIG-bbb")]
    assert [d.uuid for d in gpus.discover({"CUDA_VISIBLE_DEVICES": "1,2"})] == [fake.uuids[1], "MIG-aaa", "MIG-bbb"]
    assert [d.uuid for d in gpus.discover({"CUDA_VISIBLE_DEVICES": fake.uuids[0]})] == [fake.uuids[0]]
    assert gpus.discover({"CUDA_VISIBLE_DEVICES": ""}) == []
    fake.used_by(fake.uuids[1], [77])
    assert gpus.foreign_users(found) == {fake.uuids[1]: [77]}


def test_settings_refuse_bad_limits_naming_the_field_and_fix(tmp_path, monkeypatch) -> None:
    from tests.fake_gpus import install

    install(tmp_path, monkeypatch, 2)
    with pytest.raises(InvalidValueError, match=r"cpus=0: must be a whole number.*Fix: pass e.g. --cpus 8"):
        BoxSettings().changed(cpus=0)
    with pytest.raises(InvalidValueError, match=r"memory='lots'"):
        BoxSettings().changed(memory="lots")
    with pytest.raises(InvalidValueError, match=r"names 7, which this machine does not show"):
        BoxSettings().changed(gpus="0,7").capacity()
    settings = BoxSettings().changed(gpus="1", memory="2G", max_concurrent_runs="none")
    assert settings.memory_mb == 2048 and [d.index for d in settings.capacity().gpus] == ["1"]
    assert BoxSettings.from_config(settings.to_config()) == settings


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_ledger_grants_each_gpu_once_and_frees_what_a_dead_holder_held(engine, tmp_path, request) -> None:
    from runyard.store.sqlite import SqliteStore

    if engine == "sqlite":
        store = SqliteStore(tmp_path / "runyard.db")
    else:
        from runyard.store.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_uri"))
    ledger = store.box
    capacity = Capacity(gpus=GPUS[:2])
    alive = {"A": True, "B": True, "C": True}
    is_alive = lambda run_id, pid, start: alive[run_id]  # noqa: E731
    for i, run_id in enumerate("ABC"):
        ledger.enqueue("box1", req(run_id, at=i, gpus=1), pid=100 + i, pid_start=None)
    decision = ledger.decide("box1", capacity, is_alive)
    assert [g.run_id for g in decision.grants] == ["A", "B"] and "C" in decision.reasons
    assert ledger.decide("box1", capacity, is_alive).grants == []  # nothing is granted twice
    assert ledger.decide("box2", capacity, is_alive).grants == []  # another host keeps its own ledger
    alive["A"] = False  # its supervisor was killed: its GPU comes back at the next look
    decision = ledger.decide("box1", capacity, is_alive)
    assert [(g.run_id, g.gpus) for g in decision.grants] == [("C", ("GPU-0",))]
    state = ledger.state("box1")
    assert sorted(h.grant.run_id for h in state.holding) == ["B", "C"] and state.waiting == []
    assert ledger.release("B") == "box1" and ledger.grant_of("B") is None
    store.close()
