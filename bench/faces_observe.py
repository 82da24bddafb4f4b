"""What the face benchmark watches besides its own clock: the local AWS endpoint in a process of
its own (and the CPU time it spends), and the client-side time of each AWS call by operation."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HEALTH_TIMEOUT_S = 60.0
_STARTED = "bench_call_started"


@dataclass(frozen=True)
class EndpointProcess:
    url: str
    pid: int

    def cpu_ms(self) -> float:
        """CPU time (user and system, all threads) the endpoint has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system) * 1000


@contextmanager
def endpoint_process(
    port: int, workdir: Path, fragment_root: Path | None = None
) -> Iterator[EndpointProcess]:
    """The local AWS endpoint in a process of its own on `port`, as `fleet up` starts it
    (`python -m stack.endpoint`), its state and log in `workdir`, its fragment store at
    `fragment_root` if given; stopped on the way out."""
    argv = [sys.executable, "-m", "stack.endpoint", "--port", str(port)]
    argv += ["--state-dir", str(workdir / "aws-state"), "--log-level", "WARNING"]
    if fragment_root is not None:
        argv += ["--fragment-root", str(fragment_root)]
    with (workdir / "endpoint.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc)
            yield EndpointProcess(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the local AWS endpoint exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_fleet/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the local AWS endpoint did not answer within {HEALTH_TIMEOUT_S:g} s")


class CallTimer:
    """Wall time of every call the given boto3 clients make, summed by operation (botocore's
    `before-call` and `after-call` events: from the request's making to its answer parsed)."""

    def __init__(self, clients: Iterable[Any]) -> None:
        self._spent: defaultdict[str, float] = defaultdict(float)
        for client in clients:
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.perf_counter()

    def _after(self, context: dict[str, Any], model: Any, **_: Any) -> None:
        started = context.pop(_STARTED, None)
        if started is not None:
            self._spent[str(model.name)] += (time.perf_counter() - started) * 1000

    def take(self) -> dict[str, float]:
        """Milliseconds by operation since the last `take`."""
        spent = {operation: round(ms, 1) for operation, ms in sorted(self._spent.items())}
        self._spent.clear()
        return spent
