"""A private local Ray (what `simtest run` starts without --address) listens on loopback only,
and its control plane refuses a client that does not present the cluster's auth token.

The sockets are measured, not assumed: every process of the run (the simtest driver, GCS,
raylet, runtime-env agent, the episode actors and any other Ray worker) is found through the
driver's process tree and through the session directory Ray names on their command lines, and
each of their listening TCP sockets and bound UDP sockets must be in 127.0.0.0/8 (or ::1, or
the IPv4-mapped ::ffff:127.x). Ray 2.60 without simtest's loopback switch puts these on `::`
and on the machine's external address (docs/security.md), which this test catches."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

import psutil  # test extra: a missing one fails here rather than skipping the measurement
import pytest
import ray

import simtest_toyenv as toy
from simtest_toyenv import RUNTIME_ENV
from simtest.execution.executors.ray import RayExecutor

pytestmark = pytest.mark.ray


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


@dataclass(frozen=True)
class Listener:
    pid: int
    process: str
    kind: str  # "tcp" (LISTEN) or "udp" (bound)
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.process} (pid {self.pid}) {self.kind} {self.ip}:{self.port}"


def _connections(p):
    get = getattr(p, "net_connections", None) or p.connections  # psutil < 6 names it connections
    return get(kind="inet")


def session_processes(session_dir: str, before: frozenset[int] = frozenset()) -> dict[int, "psutil.Process"]:
    """The driver, its descendants started since `before` was taken (not, say, the S3 server that
    tests/s3 leaves running for the session), and any process naming this Ray session on its
    command line (in case one was re-parented away from the driver's tree)."""
    me = psutil.Process()
    procs = {me.pid: me}
    procs.update((p.pid, p) for p in me.children(recursive=True) if p.pid not in before)
    for p in psutil.process_iter(["cmdline"]):
        if session_dir in " ".join(p.info.get("cmdline") or ()):
            procs.setdefault(p.pid, p)
            for c in p.children(recursive=True):
                procs.setdefault(c.pid, c)
    return procs


def listeners(procs) -> list[Listener]:
    out = []
    for pid, p in procs.items():
        try:
            name = p.name()
            conns = _connections(p)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for c in conns:
            if not c.laddr:
                continue
            if c.type == socket.SOCK_STREAM and c.status == psutil.CONN_LISTEN:
                out.append(Listener(pid, name, "tcp", c.laddr.ip, c.laddr.port))
            elif c.type == socket.SOCK_DGRAM and not c.raddr:
                out.append(Listener(pid, name, "udp", c.laddr.ip, c.laddr.port))
    return out


@dataclass(frozen=True)
class PrivateRun:
    listeners: tuple[Listener, ...]
    actor_pids: frozenset[int]
    gcs_address: str
    raylet_address: str
    rows: int
    executor: RayExecutor
    processes: tuple  # psutil.Process of every process of the run


@pytest.fixture(scope="module")
def private_run() -> PrivateRun:
    if ray.is_initialized():
        ray.shutdown()
    before = frozenset(p.pid for p in psutil.Process().children(recursive=True))
    ex = RayExecutor(workers=1, wall_timeout_s=10.0, runtime_env=RUNTIME_ENV)  # no address: private Ray
    try:
        rows = len(list(ex.run(toy.cases(3, steps=3), toy.MODEL)))
        node = ray._private.worker._global_node
        procs = session_processes(node.get_session_dir_path(), before)
        found = listeners(procs)
        actors = frozenset(ex.worker_pids())
        raylet = f"{node.node_ip_address}:{node.node_manager_port}"
        yield PrivateRun(tuple(found), actors, node.gcs_address, raylet, rows, ex,
                         tuple(p for pid, p in procs.items() if pid != os.getpid()))
    finally:
        ex.close()


def test_every_listener_of_a_private_run_is_on_loopback(private_run):
    assert private_run.rows == 3
    names = {ln.process for ln in private_run.listeners}
    # Not vacuous: the control plane, the driver and the episode actor were all measured.
    assert any("gcs_server" in n for n in names), names
    assert any("raylet" in n for n in names), names
    assert {ln.pid for ln in private_run.listeners} & private_run.actor_pids, "the actor's gRPC server was not seen"
    assert os.getpid() in {ln.pid for ln in private_run.listeners}, "the driver's gRPC server was not seen"
    exposed = [str(ln) for ln in private_run.listeners if not is_loopback(ln.ip)]
    assert exposed == [], "listening outside 127.0.0.0/8:\n" + "\n".join(exposed)


def test_the_node_address_every_client_is_given_is_loopback(private_run):
    assert is_loopback(private_run.gcs_address.rsplit(":", 1)[0]), private_run.gcs_address
    assert is_loopback(private_run.raylet_address.rsplit(":", 1)[0]), private_run.raylet_address


def _token_metadata() -> tuple[tuple[str, str], ...]:
    from ray._raylet import AuthenticationTokenLoader

    headers = AuthenticationTokenLoader.instance().get_token_for_http_header()
    assert headers, "the private Ray runs without a token: token authentication is off"
    return tuple((k.lower(), v) for k, v in headers.items())


def _call(address: str, stub_cls, method: str, request, metadata=()) -> object:
    import grpc

    with grpc.insecure_channel(address) as channel:
        return getattr(stub_cls(channel), method)(request, metadata=metadata, timeout=10)


@pytest.mark.parametrize("server", ["gcs", "raylet"])
def test_the_control_plane_refuses_a_client_without_the_token(private_run, server):
    """Loopback is reachable by every local user and process; the token is what keeps them out."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc, node_manager_pb2, node_manager_pb2_grpc

    if server == "gcs":
        target = (private_run.gcs_address, gcs_service_pb2_grpc.NodeInfoGcsServiceStub, "GetAllNodeInfo",
                  gcs_service_pb2.GetAllNodeInfoRequest())
    else:
        target = (private_run.raylet_address, node_manager_pb2_grpc.NodeManagerServiceStub, "GetNodeStats",
                  node_manager_pb2.GetNodeStatsRequest())
    good = _token_metadata()
    _call(*target, metadata=good)  # the same call with the token is answered
    for bad in ((), tuple((k, "Bearer " + "0" * 32) for k, _ in good)):
        with pytest.raises(grpc.RpcError) as info:
            _call(*target, metadata=bad)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (bad, info.value)


def test_closing_the_executor_stops_every_process_of_the_private_ray(private_run):
    """Runs last in this file (it closes the module's Ray): nothing of the run keeps listening."""
    assert private_run.processes, "no Ray process was found to begin with"
    private_run.executor.close()
    assert not ray.is_initialized()
    _, alive = psutil.wait_procs(list(private_run.processes), timeout=20)
    left = []
    for p in alive:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {p.name()}")
        except psutil.NoSuchProcess:
            pass
    assert left == [], f"still running 20 s after close(): {left}"
