"""A small keep-alive HTTP client for the service (stdlib only) and a launcher of the server in a subprocess."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from graph.common.errors import Img2SongError

REPO = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]  # the import root


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def multipart(fields: Sequence[tuple[str, str]] = (), files: Sequence[tuple[str, str, bytes]] = ()
              ) -> tuple[bytes, str]:
    """Body and Content-Type of a multipart/form-data request: (name, value) fields, (name, filename, data) files."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode() + b"\r\n")
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client:
    """One persistent connection (reopened after the server closes it)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        u = urlsplit(url)
        self.host, self.port, self.timeout = u.hostname or "127.0.0.1", u.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None) -> Reply:
        if params:
            path = f"{path}?{urlencode(params, doseq=True)}"
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers or {})
                r = self._conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return Reply(r.status, data)
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Reply:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, fields: Sequence[tuple[str, str]] = (), files: Sequence[tuple[str, str, bytes]] = (),
             **params: Any) -> Reply:
        body, ctype = multipart(fields, files) if (fields or files) else (b"", "application/x-www-form-urlencoded")
        return self.request("POST", path, body, {"Content-Type": ctype}, params or None)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str | os.PathLike, args: Sequence[str] = (), module: str = "evaluation.app.cli", port: int | None = None,
                 timeout: float = 180.0, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`python -m <module> serve --run RUN --port P ...` on loopback; returns once /healthz answers 200."""
    port = port or free_port()
    if log is None:
        fd, name = tempfile.mkstemp(prefix="img2song-serve-", suffix=".log")
        os.close(fd)
        log = Path(name)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, "serve", "--run", os.fspath(run), "--host",
                                 "127.0.0.1", "--port", str(port), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    client, t0 = Client(url, timeout=5), time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
                raise Img2SongError(f"server exited with status {proc.returncode} before answering; {log}:\n{tail}")
            try:
                if client.get("/healthz").status == 200:
                    return proc, url
            except OSError:
                time.sleep(0.2)
        raise Img2SongError(f"server did not answer /healthz within {timeout:.0f} s")
    except BaseException:
        stop_server(proc)
        raise
    finally:
        client.close()


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it does not exit in time; returns the status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
