"""Several web processes on one port each accept from their own queue (service/serving.py): clients
that connect at the same moment are spread over the processes, not all taken by the first awake."""

from __future__ import annotations

import asyncio
import http.client
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import time
from multiprocessing.reduction import ForkingPickler

import pytest

from pixseek.service.serving import ReusePortListener, balances_by_reuseport

needs_reuseport = pytest.mark.skipif(not balances_by_reuseport(), reason="the kernel balances SO_REUSEPORT on Linux only")

PID_APP = textwrap.dedent(
    """
    import os

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    """
)


@needs_reuseport
def test_a_listener_is_bound_afresh_where_it_is_sent_and_the_sender_accepts_nothing():
    parent = ReusePortListener.bind_to("127.0.0.1", 0)
    try:
        port = parent.getsockname()[1]
        copy = pickle.loads(ForkingPickler.dumps(parent))  # what a spawned worker receives
        try:
            assert copy.fileno() != parent.fileno() and copy.getsockname() == ("127.0.0.1", port)
            copy.listen(8)
            copy.settimeout(5)
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                accepted, _ = copy.accept()  # the only listening socket of the group took it
                accepted.close()
        finally:
            copy.close()
        with pytest.raises(OSError):  # never listening: nothing to accept, nothing queued on it
            parent.setblocking(False)
            parent.accept()
    finally:
        parent.close()


@needs_reuseport
def test_connections_a_web_process_accepts_send_without_nagles_delay():
    """asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose proto says TCP, and an
    accepted socket copies its listener's: a listener made with proto 0 left every response after
    the first on a keep-alive connection waiting ~40 ms for the client's delayed ACK."""
    parent = ReusePortListener.bind_to("127.0.0.1", 0)
    listener = pickle.loads(ForkingPickler.dumps(parent))  # what a spawned worker serves on
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)  # as uvicorn does
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
            for _ in range(100):
                if nodelay:
                    break
                await asyncio.sleep(0.05)
            writer.close()
        finally:
            server.close()
            await server.wait_closed()

    try:
        asyncio.run(accept_one())
    finally:
        parent.close()
        listener.close()
    assert nodelay and nodelay[0] != 0


def _pids_of_simultaneous_clients(port: int, clients: int) -> list[int]:
    """Open `clients` connections at once, then ask each which process answers it."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(clients)]
    try:
        for c in connections:
            c.connect()
        pids = []
        for c in connections:
            c.request("GET", "/")
            pids.append(int(c.getresponse().read()))
        return pids
    finally:
        for c in connections:
            c.close()


@needs_reuseport
def test_clients_connecting_together_are_spread_over_the_web_processes(tmp_path):
    (tmp_path / "pid_app.py").write_text(PID_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "server.log"
    code = (
        "from pixseek.service.serving import run_web_workers; "
        f"run_web_workers(2, '127.0.0.1', {port}, app='pid_app:app', factory=False, log_level='warning')"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, pids = time.monotonic() + 60, set()
        while len(pids) < 2 and time.monotonic() < deadline:  # both workers up
            assert server.poll() is None, log.read_text()
            try:
                pids |= set(_pids_of_simultaneous_clients(port, 16))
            except OSError:
                time.sleep(0.2)
        assert len(pids) == 2, f"16 clients all answered by {pids}:\n{log.read_text()}"
        # Every round of 16 clients connecting at once is shared out (all 16 on one of two queues by
        # chance: 2 in 65,536); with one shared socket the first process awake took them all.
        for _ in range(3):
            answered = _pids_of_simultaneous_clients(port, 16)
            assert len(set(answered)) == 2, answered
        assert pids <= set(_worker_pids(server.pid))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _worker_pids(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


FAULTS_OF_REPEATED_ARRAYS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from pixseek.service.serving import keep_search_memory

    applied = keep_search_memory() if sys.argv[1] == "tuned" else False
    rows = np.random.default_rng(0).random((9000, 50), dtype=np.float32)  # a search's candidate rows


    def search_like() -> None:  # several temporaries of that size alive at once, then all freed
        scaled = rows * 2.0
        kept = [scaled + rows, scaled * rows, np.where(rows > 0.5, rows, 0.0), rows.copy()]
        sum(k.sum() for k in kept)

    for _ in range(3):  # warm
        search_like()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        search_like()
    print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_web_process_reuses_the_memory_a_search_freed(tmp_path):
    script = tmp_path / "faults.py"
    script.write_text(FAULTS_OF_REPEATED_ARRAYS)

    def faults(mode: str) -> tuple[str, float]:
        out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, check=True).stdout.split()
        return out[0], float(out[1])

    applied, tuned = faults("tuned")
    _, default = faults("default")
    if applied != "True":
        pytest.skip("not glibc")
    # 1.8 MB arrays: glibc maps each afresh and faults its ~440 pages in, unless told to keep them
    assert default > 200, default
    assert tuned < 20, tuned
