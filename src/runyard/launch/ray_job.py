"""A run's Ray job, driven from the supervisor: a placement group with a bundle per node, an actor per
bundle running runyard's node agent (`python -m runyard.launch.agent`), and the agents' exits.

The supervisor joins the cluster as a driver, so the actors it creates die with it: a killed supervisor
takes the agents (and, through their parent-death signal, the ranks) with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from runyard.launch.agent import failed_ranks
from runyard.launch.launcher import JobFailure, RankExit
from runyard.run_folder import RunFolder

PLACEMENT_TIMEOUT_NOTE = "waiting for the Ray cluster to place {n} bundle(s) of {bundle} ({strategy})"


@dataclass(frozen=True)
class RayPlan:
    """What a run asks of the cluster: the placement group and each node's agent command."""

    bundles: tuple[dict[str, float], ...]
    strategy: str
    agent_commands: tuple[tuple[str, ...], ...]  # MASTER_ADDR / MASTER_PORT are filled in at launch


def _unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why nothing answers at HOST:PORT, or None ('auto' is left to Ray)."""
    import socket

    host, _, port = address.rpartition(":")
    if address == "auto" or not port.isdigit():
        return None
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return None
    except OSError as e:
        return f"nothing answers at {address} ({e.strerror or e})"


class NodeAgentActor:
    """Runs on one Ray node: finds its address and a free port, then runs the node agent to its end."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def address(self) -> tuple[str, int]:
        import socket

        import ray

        with socket.socket() as s:
            s.bind(("", 0))
            port = int(s.getsockname()[1])
        return ray.util.get_node_ip_address(), port

    def run(self, command: list[str], env: dict[str, str], log_path: str) -> int:
        from runyard.launch.procs import die_with_this_process

        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_this_process())
        return self.proc.wait()

    def stop(self, grace: float) -> None:
        """SIGTERM the agent (it stops its ranks), SIGKILL its group after `grace`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# a rank whose peer's node vanished fails at once; Ray declares that node dead some seconds later (its health
# checks): while another node's agent is still unaccounted for, a rank failure waits this long for that news
NODE_LOSS_GRACE_SECONDS = 30.0
ACTOR_PING_SECONDS = 10.0


class RayJob:
    after_node_loss = False  # set on the job of an attempt that follows a lost node

    def __init__(self, folder: RunFolder, address: str, plan: RayPlan, env: dict[str, str], attempt: int) -> None:
        self.folder, self.address, self.plan, self.env, self.attempt = folder, address, plan, env, attempt
        self._failure: JobFailure | None = None
        self._group: Any = None
        self._ready: Any = None
        self._actors: list[Any] = []
        self._runs: list[Any] = []
        self._exits: dict[int, int] = {}
        self._stopping = False
        self._first_exit_at: float | None = None

    @property
    def pgids(self) -> list[int]:
        return []  # nothing of the job runs in this machine's process groups

    # -- start ----------------------------------------------------------------------------------------
    def dry_run(self) -> list[list[str]]:
        """Each node's agent command (the placement group and actors around them are in the plan)."""
        return [list(c) for c in self.plan.agent_commands]

    def start(self) -> None:
        if unreachable := _unreachable(self.address):
            # ray.init would retry a dead address for minutes; a TCP probe answers in seconds
            self._failure = JobFailure(f"cannot join the Ray cluster at {self.address}: {unreachable}. Fix: start "
                                       "it (ray start --head) or attach the head node's GCS address", time.monotonic())
            return
        try:
            import ray
            from ray.util.placement_group import placement_group

            ray.init(address=self.address, namespace="runyard", logging_level="ERROR", log_to_driver=False,
                     ignore_reinit_error=True)
        except Exception as e:  # noqa: BLE001 - whatever ray says, the run fails with it
            self._failure = JobFailure(f"cannot join the Ray cluster at {self.address}: {e}", time.monotonic())
            return
        # after a lost node, the cluster may be short of nodes for a while: wait for it to come back
        if not self.after_node_loss and (reason := self._impossible(ray.nodes())):
            self._failure = JobFailure(f"the Ray cluster at {self.address} can never place this run: {reason}",
                                       time.monotonic())
            return
        self._group = placement_group(list(self.plan.bundles), strategy=self.plan.strategy,
                                      name=f"runyard-{self.folder.run_id}-{self.attempt}")
        self._ready = self._group.ready()  # once: each ready() call schedules a task in the group

    def _impossible(self, nodes: list[dict[str, Any]]) -> str | None:
        alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
        bundle = self.plan.bundles[0]
        fitting = [r for r in alive if all(r.get(k, 0.0) >= v for k, v in bundle.items())]
        needed = len(self.plan.bundles) if self.plan.strategy == "STRICT_SPREAD" else 1
        if len(fitting) < needed:
            return (f"node_count={len(self.plan.bundles)} needs {needed} node(s) each with {bundle}; "
                    f"{len(fitting)} of its {len(alive)} alive node(s) have that much")
        return None

    def _placed(self) -> bool:
        import ray

        if self._actors:
            return True  # placed, and the agents started (they stay listed after a release)
        if self._group is None:
            return False
        ready, _ = ray.wait([self._ready], timeout=0)
        if not ready:
            return False
        self._start_agents()
        return True

    def _start_agents(self) -> None:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        actor_class = ray.remote(NodeAgentActor)
        # max_concurrency=2: stop() must run while run() is still waiting on the agent
        self._actors = [actor_class.options(num_cpus=0, max_concurrency=2, scheduling_strategy=PlacementGroupSchedulingStrategy(
            self._group, placement_group_bundle_index=i)).remote() for i in range(len(self.plan.bundles))]
        master_addr, master_port = ray.get(self._actors[0].address.remote())
        self.folder.system_logs.mkdir(parents=True, exist_ok=True)
        for node, (actor, command) in enumerate(zip(self._actors, self.plan.agent_commands)):
            argv = [*command, "--master-addr", master_addr, "--master-port", str(master_port)]
            log = self.folder.system_logs / (f"agent_node_{node}" + (f"_attempt_{self.attempt}" if self.attempt
                                                                      else "") + ".txt")
            env = {**self.env, "MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port)}
            self._runs.append(actor.run.remote(argv, env, str(log)))

    # -- state ----------------------------------------------------------------------------------------
    def started(self) -> bool:
        return self._placed()

    def progress(self) -> str | None:
        if self._failure is None and self._group is not None and not self._placed():
            return PLACEMENT_TIMEOUT_NOTE.format(n=len(self.plan.bundles), bundle=self.plan.bundles[0],
                                                 strategy=self.plan.strategy)
        return None

    def _collect(self) -> None:
        """Record the agents that ended; an agent whose actor died is a lost node, kept as the failure here
        (whoever polls first, failure() or finished(), must not drop it)."""
        import ray

        pending = [r for i, r in enumerate(self._runs) if i not in self._exits]
        if not pending:
            return
        done, _ = ray.wait(pending, num_returns=len(pending), timeout=0)
        for ref in done:
            node = self._runs.index(ref)
            try:
                self._exits[node] = int(ray.get(ref))
            except Exception as e:  # noqa: BLE001 - an actor or node that died takes its agent with it
                self._exits[node] = -1
                if not self._stopping and self._failure is None:
                    self._failure = JobFailure(f"the node agent on Ray node {node} was lost: {type(e).__name__}: "
                                               f"{str(e).splitlines()[0] if str(e) else ''}", time.monotonic(),
                                               node_lost=True)

    def failure(self) -> RankExit | JobFailure | None:
        if self._failure is not None or not self._placed():
            return self._failure
        self._collect()
        if self._failure is not None:
            return self._failure
        if any(code != 0 for code in self._exits.values()):
            lost_node = self._lost_bundle_node()
            if lost_node is not None:  # the rank failed because its peer's node went away
                self._failure = JobFailure(f"Ray node {lost_node[0]} ({lost_node[1]}) was lost; its ranks' peers "
                                           "failed with it", time.monotonic(), node_lost=True)
                return self._failure
            if len(self._exits) < len(self.plan.bundles):  # another node's agent has not been heard of yet
                self._first_exit_at = self._first_exit_at or time.monotonic()
                if time.monotonic() - self._first_exit_at < NODE_LOSS_GRACE_SECONDS:
                    return None
            killed = sorted(n for n, c in self._exits.items() if c < 0)
            gone = next((n for n in killed if not self._actor_answers(n)), None)
            if gone is not None:  # the agent's actor went with it: its node went down, not just the agent
                self._failure = JobFailure(f"Ray node {gone} was lost: its node agent and the agent's Ray actor "
                                           "died together", time.monotonic(), node_lost=True)
                return self._failure
            if killed:  # an agent killed by a signal took its node's ranks with it; the other ranks only followed
                name = signal.Signals(-self._exits[killed[0]]).name if -self._exits[killed[0]] in \
                    signal.valid_signals() else f"signal {-self._exits[killed[0]]}"
                return JobFailure(f"the node agent on Ray node {killed[0]} was killed by {name}; the ranks of its "
                                  "peers failed with it", time.monotonic())
            ranks = failed_ranks(self.folder)
            if ranks:
                return min(ranks, key=lambda e: e.at)
            node = min(n for n, c in self._exits.items() if c != 0)
            return JobFailure(f"the node agent on Ray node {node} exited with code {self._exits[node]}",
                              time.monotonic())
        return None

    def _actor_answers(self, node: int) -> bool:
        """Whether node's agent actor still answers: it dies with its node, and Ray's own verdict on a dead
        node comes only after its health checks time out."""
        import ray

        try:
            ray.get(self._actors[node].address.remote(), timeout=ACTOR_PING_SECONDS)
            return True
        except ray.exceptions.GetTimeoutError:
            return True  # slow, not gone: judge by the exit code
        except Exception:  # noqa: BLE001 - RayActorError and kin: the actor is dead
            return False

    def _lost_bundle_node(self) -> tuple[int, str] | None:
        """(bundle index, node address) of a node of this job that Ray says is dead, if any."""
        import ray
        from ray.util.placement_group import placement_group_table

        if self._group is None:
            return None
        try:
            placed = placement_group_table(self._group).get("bundles_to_node_id", {})
            alive = {n["NodeID"]: (n.get("Alive"), n.get("NodeManagerAddress", "?")) for n in ray.nodes()}
        except Exception:  # noqa: BLE001 - the cluster could not tell: judge by the ranks
            return None
        for bundle, node_id in sorted(placed.items()):
            state = alive.get(node_id)
            if state is not None and not state[0]:
                return int(bundle), str(state[1])
        return None

    def finished(self) -> bool:
        if not self._placed():
            return False
        self._collect()
        done = len(self._exits) == len(self.plan.bundles) and all(c == 0 for c in self._exits.values())
        if done and self._group is not None:
            self._release()  # nothing is left to stop: give the cluster its resources back now
        return done

    def canceled(self) -> bool:
        return False

    def stop(self, grace: float) -> None:
        self._stopping = True
        try:
            import ray
        except ImportError:
            return
        if not ray.is_initialized():
            return
        try:
            ray.get([a.stop.remote(grace) for a in self._actors], timeout=grace + 10)
        except Exception:  # noqa: BLE001 - a lost actor has nothing left to stop
            pass
        self._release()

    def _release(self) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        for actor in self._actors:
            ray.kill(actor)
        if self._group is not None:
            remove_placement_group(self._group)
            self._group = None
        ray.shutdown()
