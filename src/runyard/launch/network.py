"""Which address and interface a node's ranks talk on: the route towards the rendezvous host (MASTER_ADDR),
never what the node's hostname resolves to (127.0.1.1 on many machines, nothing at all on others).

The node agent sets GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME and TP_SOCKET_IFNAME to that interface unless the
job set them, and records its choice on the run (`runyard.network.node<N>`). `python -m runyard.launch.network
cidr MASTER_ADDR` prints the route's network (for Open MPI's btl_tcp_if_include / oob_tcp_if_include, which
take one value for every node).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

INTERFACE_VARIABLES = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "TP_SOCKET_IFNAME")
NETWORK_PROPERTY = "runyard.network.node{node}"


@dataclass(frozen=True)
class Route:
    address: str       # this node's address towards the rendezvous host
    interface: str     # the interface that holds it
    network: str       # that interface's network, e.g. 10.1.0.0/24


def route_to(master_addr: str) -> Route | None:
    """The local end of the route to master_addr (a UDP connect sends nothing), or None if there is none."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(master_addr, 1, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(where)
            local = probe.getsockname()[0]
    except OSError:
        return None
    for name, addresses in psutil.net_if_addrs().items():
        for a in addresses:
            if a.address == local and a.netmask:
                network = ipaddress.ip_interface(f"{local}/{a.netmask}").network
                return Route(local, name, str(network))
    return None


def interface_env(route: Route | None, env: Mapping[str, str]) -> dict[str, str]:
    """The interface variables to add: the route's interface for each one the job left unset."""
    if route is None:
        return {}
    return {name: route.interface for name in INTERFACE_VARIABLES if not env.get(name)}


def record(route: Route | None, chosen: Mapping[str, str], node: int, master_addr: str, spool_dir: Path,
           heartbeat_port: int | None = None) -> None:
    """The choice, as a run property through the spool (so a node on another host reports it too), with the
    port the supervisor knocks on to tell a partitioned node (launch/network_watch.py)."""
    if route is None:
        return
    value = json.dumps({**asdict(route), "masterAddr": master_addr, "host": socket.gethostname(),
                        "set": sorted(chosen), "heartbeatPort": heartbeat_port})
    line = json.dumps(["property", NETWORK_PROPERTY.format(node=node), value, None, time.time(), ""])
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        with open(spool_dir / f"network-{node}.{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass  # the run goes on; only the record is missing


SUBMIT_ADDR_ENV = "RUNYARD_SUBMIT_ADDR"  # the submitting machine's address on the route to the cluster


def reachable_url(url: str, route: Route | None, submit_addr: str | None) -> str:
    """A server URL a node on another host can reach: a loopback host (what the user knows the server by on
    the submitting machine) becomes that machine's address on the route to the cluster."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost" or host.startswith("127.") or host == "::1"
    if not loopback or not submit_addr or route is None or ipaddress.ip_address(route.address).is_loopback:
        return url
    netloc = f"[{submit_addr}]" if ":" in submit_addr else submit_addr
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))


def cluster_address(host: str) -> str | None:
    """This machine's address on the route to a cluster host (its controller, its head node)."""
    route = route_to(host)
    return route.address if route is not None and not ipaddress.ip_address(route.address).is_loopback else None


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "cidr":
        print("usage: python -m runyard.launch.network cidr MASTER_ADDR", file=sys.stderr)
        return 2
    route = route_to(argv[2])
    print(route.network if route is not None else "0.0.0.0/0")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
