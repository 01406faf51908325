"""The local run (``python -m tools.local_api``) as a subprocess, for tests that drive the API over
real HTTP.

    with LocalApi(env={"PIN_MAX_FAILURES": "3"}) as api:
        status, headers, body = api.post("/gift_card/issue", {...})

Each start has its own moto (its own table and secrets). The server's stdout and stderr go to a
temporary file (``api.output()``), so a chatty run can never block on a full pipe. Stopping sends
SIGINT (the clean shutdown path), then kills after a timeout.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from giftcard.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_API_KEY = "local-test-api-key-0123456789abcdef"
_MOTO_LINE = re.compile(r"moto endpoint\s+(http://\S+)")
_KEY_LINE = re.compile(r"API key\s+(\S+)")
#: Loopback only: never through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalApiError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalApi:
    """Start/stop the local run; ``url``, ``api_key``, ``moto_endpoint`` once started.

    ``api_key=None`` lets the server generate its key (read back from its banner)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        stock_csv: str | Path | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.env = dict(env or {})
        self.api_key = api_key or ""
        self._generate_key = api_key is None
        self.stock_csv = stock_csv
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self.url = ""
        self.moto_endpoint = ""
        self.returncode: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    # lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> LocalApi:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        # A port picked here may be taken by another process before the server binds it: retry.
        for _attempt in range(3):
            if self._start_once():
                return
        raise LocalApiError("the local API did not start:\n" + self.output()[-4000:])

    def _environment(self) -> dict[str, str]:
        # The parent's AWS and service settings (a test may have set some) must not leak in.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AWS_") and name not in ENVIRONMENT and name != "STOCK_CSV"
        }
        inherited.update(
            {
                "PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        if not self._generate_key:
            inherited["API_KEY"] = self.api_key
        if self.stock_csv is not None:
            inherited["STOCK_CSV"] = str(self.stock_csv)
        inherited.update(self.env)
        return inherited

    def _start_once(self) -> bool:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        handle, name = tempfile.mkstemp(prefix="local-api-", suffix=".log")
        self._log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tools.local_api"],
                cwd=ROOT,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C at the terminal is the test's to handle
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.returncode = self._process.returncode
                if "in use" in self.output() or "Address already" in self.output():
                    return False
                raise LocalApiError(
                    f"the local API exited with {self.returncode}:\n" + self.output()[-4000:]
                )
            if self._answers():
                banner = self.output()
                found = _MOTO_LINE.search(banner)
                self.moto_endpoint = found.group(1) if found else ""
                if self._generate_key and (key := _KEY_LINE.search(banner)):
                    self.api_key = key.group(1)
                return True
            time.sleep(0.1)
        self.stop()
        raise LocalApiError("the local API did not answer in time:\n" + self.output()[-4000:])

    def _answers(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/openapi.json", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):
            return False

    def stop(self) -> int | None:
        """SIGINT (clean shutdown), then SIGKILL after ``stop_timeout``; the exit status."""
        process = self._process
        if process is None:
            return self.returncode
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.returncode = process.returncode
        self._process = None
        return self.returncode

    @property
    def pid(self) -> int | None:
        """The running server's process id (None when stopped)."""
        return self._process.pid if self._process is not None else None

    def output(self) -> str:
        """Everything the server printed so far (banner, JSON log lines)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def cleanup(self) -> None:
        """Delete the captured output (call after ``stop`` when it is no longer needed)."""
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)

    # requests -----------------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, headers, body), whatever the status."""
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    def post(
        self,
        path: str,
        payload: Any,
        *,
        authorized: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """POST a JSON body with the API key: (status, parsed JSON body)."""
        sent = {"Content-Type": "application/json"}
        if authorized:
            sent.update(self.auth_headers())
        sent.update(headers or {})
        status, _, raw = self.request("POST", path, json.dumps(payload).encode(), sent)
        return status, json.loads(raw)
