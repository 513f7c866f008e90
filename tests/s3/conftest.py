"""A real S3-compatible server for the object-store tests: moto's server (PyPI `moto[server]`),
started once per test session as a child process bound to 127.0.0.1 on a free port, and stopped
when the session ends. Nothing listens on any other interface.

Credentials come the way they do in CI: from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_DEFAULT_REGION in the environment (moto accepts any values). Each test gets its own bucket, so
tests never see each other's runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

pytest.importorskip("moto", reason="moto[server] is a test extra (pip install -e '.[test]')")

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "simtest-test-key", "AWS_SECRET_ACCESS_KEY": "simtest-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    host: str
    port: int
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def uri(self, bucket: str, prefix: str = "results") -> str:
        """A results URI pyarrow.fs understands, pointing at this server."""
        return (f"s3://{bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http"
                f"&region={CREDENTIALS['AWS_DEFAULT_REGION']}")

    def env(self) -> dict:
        """The environment a child process needs to reach the server (credentials included)."""
        return {**os.environ, **CREDENTIALS}

    def filesystem(self):
        from pyarrow import fs

        return fs.S3FileSystem(endpoint_override=self.endpoint, scheme="http",
                               region=CREDENTIALS["AWS_DEFAULT_REGION"], allow_bucket_creation=True)

    def make_bucket(self) -> str:
        name = f"simtest-{uuid.uuid4().hex[:10]}"
        self.filesystem().create_dir(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        from pyarrow import fs

        sel = fs.FileSelector(f"{bucket}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True)
        return sorted(i.path for i in self.filesystem().get_file_info(sel) if i.type == fs.FileType.File)


@pytest.fixture(scope="session")
def s3_server():
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start on 127.0.0.1:{port} (exit {proc.poll()})")
            time.sleep(0.1)
    try:
        yield S3Server("127.0.0.1", port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    # the server stops inside the test run: nothing answers on its port any more
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.settimeout(2)
        s.connect(("127.0.0.1", port))


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.make_bucket()
