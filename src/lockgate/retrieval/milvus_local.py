"""The Milvus engine of the `milvus-lite` 2.5 wheel, run as a gRPC server on a loopback port.

That wheel bundles the real Milvus (the C++ server with its knowhere index library) as one
binary that keeps a collection in one local file; served on a port, it answers the same
client calls (pymilvus `MilvusClient(uri="http://...")`) as Milvus standalone or a cluster.
Development, the tests and the benchmark run it; production points `retrieval.vector.uri`
at a Milvus deployment (deploy/). Run one by hand with
`python -m lockgate.retrieval.milvus_local --data ./milvus.db --port 19530`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

# The engine's own rule for its data file's name.
_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,36}$")


def engine_dir() -> Path:
    """The folder of the bundled engine binary and its libraries. Found without importing
    the `milvus_lite` package, whose __init__ needs `pkg_resources` (gone from setuptools)."""
    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("milvus-lite is not installed: pip install 'milvus-lite==2.5.1'")
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    if not (lib / "milvus").is_file():
        raise RuntimeError(
            f"{lib}: no Milvus binary; only the milvus-lite 2.4/2.5 wheels bundle the server "
            "(3.x is a Python reimplementation): pip install 'milvus-lite==2.5.1'"
        )
    return lib


class LocalMilvus:
    """One engine process serving `data` on `host:port`; stopped on exit from `with`."""

    def __init__(self, data: Path, port: int, host: str = "127.0.0.1") -> None:
        data = Path(data).absolute()
        if not _NAME.match(data.name):
            raise ValueError(f"{data.name}: the data file's name must match {_NAME.pattern}")
        self.data, self.host, self.port = data, host, port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> LocalMilvus:
        lib = engine_dir()
        self.data.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
        level = os.environ.get("LOCKGATE_MILVUS_LOG_LEVEL", "ERROR")
        self._proc = subprocess.Popen(
            [str(lib / "milvus"), str(self.data), f"{self.host}:{self.port}", level],
            env=env,
            cwd=str(self.data.parent),
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeError(f"Milvus exited with status {code} on start ({self.data})")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Milvus did not listen on {self.host}:{self.port} in {timeout_s} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LocalMilvus:
        return self.start() if self._proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("milvus.db"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    server = LocalMilvus(args.data, args.port, args.host).start()
    print(f"Milvus serving {args.data} at {server.uri}", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop and server._proc is not None and server._proc.poll() is None:
        time.sleep(0.5)
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
