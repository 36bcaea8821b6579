"""The gateway's workspace module over `docker workspace serve`: no Docker socket.

The same methods as workspace_docker.WorkspaceDockerRunner, over the server's
/v1 JSON API on its unix socket, with a token that names the workspaces, the
verbs and the configuration the gateway may use (the operator's: see
docs/serve.md). Standard library only.

    runner = WorkspaceApiRunner.from_env()   # GATEWAY_WORKSPACE_SERVER, GATEWAY_WORKSPACE_TOKEN
    cid = runner.ensure_workspace_container(workspace_subdir="team-a/alice")
    out = runner.exec("team-a/alice", ["python3", "-c", "print(6*7)"]).stdout
    runner.stop_workspace_container("team-a/alice")

Errors: WorkspaceBadInput (400: nothing was changed), WorkspaceDenied (401,
403: outside the token), WorkspaceApiError otherwise; each has the server's
stable code and HTTP status.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

DEFAULT_SERVER = "unix:///run/docker-workspace.sock"


class WorkspaceApiError(Exception):
    """The server refused or failed; code is its stable code, status the HTTP status."""

    def __init__(self, message: str, code: str, status: int):
        super().__init__(message)
        self.code, self.status = code, status


class WorkspaceBadInput(WorkspaceApiError, ValueError):
    """The server refused the input (400): nothing was changed."""


class WorkspaceDenied(WorkspaceApiError, PermissionError):
    """Outside what the token allows (401, 403)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("docker-workspace", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class WorkspaceApiRunner:
    def __init__(self, *, server: str = DEFAULT_SERVER, token: str, timeout: float = 300):
        url = urllib.parse.urlparse(server)
        if url.scheme != "unix" or not url.path:
            raise ValueError(f"server {server!r}: unix:///PATH is needed")
        self._path, self._token, self._timeout = url.path, token, timeout

    @classmethod
    def from_env(cls) -> "WorkspaceApiRunner":
        token = os.environ.get("GATEWAY_WORKSPACE_TOKEN")
        if not token and os.environ.get("GATEWAY_WORKSPACE_TOKEN_FILE"):
            token = Path(os.environ["GATEWAY_WORKSPACE_TOKEN_FILE"]).read_text().strip()
        if not token:
            raise ValueError("GATEWAY_WORKSPACE_TOKEN (or GATEWAY_WORKSPACE_TOKEN_FILE) is needed")
        return cls(server=os.environ.get("GATEWAY_WORKSPACE_SERVER", DEFAULT_SERVER), token=token)

    def _call(self, method: str, subdir: str | None, verb: str = "", *, query: dict[str, str] | None = None,
              body: bytes | None = None, json_body: Any = None) -> bytes:
        path = "/v1/workspaces" if subdir is None else "/v1/workspaces/" + urllib.parse.quote(subdir, safe="")
        if verb:
            path += "/" + verb
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": "Bearer " + self._token}
        if json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        conn = _UnixConnection(self._path, self._timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 300:
            try:
                err = json.loads(data)
            except ValueError:
                err = {"code": "internal", "message": data.decode(errors="replace")}
            kind = {400: WorkspaceBadInput, 401: WorkspaceDenied, 403: WorkspaceDenied}.get(resp.status, WorkspaceApiError)
            raise kind(err.get("message", ""), err.get("code", ""), resp.status)
        return data

    def ensure_workspace_container(self, *, workspace_subdir: str) -> str:
        """Makes sure the workspace exists and runs; returns its container's ID."""
        return json.loads(self._call("POST", workspace_subdir, "ensure"))["id"]

    def stop_workspace_container(self, workspace_subdir: str, timeout: int = 15) -> None:
        self._call("POST", workspace_subdir, "stop", json_body={"timeout": timeout})

    def remove_workspace_container(self, workspace_subdir: str, *, force: bool = True) -> None:
        """Removes the container, never the data."""
        self._call("DELETE", workspace_subdir, query={"force": "true" if force else "false"})

    def exec(self, workspace_subdir: str, argv: Sequence[str], *, input: str | None = None,
             env: dict[str, str] | None = None, workdir: str | None = None) -> subprocess.CompletedProcess:
        """Runs a command in the workspace (ensured first), as its user."""
        req: dict[str, Any] = {"cmd": list(argv)}
        if input is not None:
            req["stdin"] = input
        if env:
            req["env"] = [f"{k}={v}" for k, v in env.items()]
        if workdir:
            req["workdir"] = workdir
        res = json.loads(self._call("POST", workspace_subdir, "exec", json_body=req))
        return subprocess.CompletedProcess(list(argv), res["exitCode"], res["stdout"], res["stderr"])

    def copy_in(self, workspace_subdir: str, local: Path, dest: str) -> None:
        """Writes a local file into the workspace (dest relative to its directory), whole or not at all."""
        self._call("PUT", workspace_subdir, "file", query={"path": dest}, body=Path(local).read_bytes())

    def copy_out(self, workspace_subdir: str, src: str, local: Path) -> None:
        """Reads a regular file of the workspace into a local file."""
        Path(local).write_bytes(self._call("GET", workspace_subdir, "file", query={"path": src}))

    def inspect(self, workspace_subdir: str) -> dict[str, Any]:
        return json.loads(self._call("GET", workspace_subdir))

    def list(self) -> list[dict[str, Any]]:
        return json.loads(self._call("GET", None))


if __name__ == "__main__":
    import sys

    r = WorkspaceApiRunner.from_env()
    sub = sys.argv[1] if len(sys.argv) > 1 else "alice"
    print("container:", r.ensure_workspace_container(workspace_subdir=sub)[:12] + "…")
    print(r.exec(sub, ["sh", "-c", "echo hello from $(pwd)"]).stdout, end="")
    r.stop_workspace_container(sub)
