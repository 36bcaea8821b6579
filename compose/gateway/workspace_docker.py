"""The gateway's workspace_docker module, over docker-workspace.

A drop-in for the original WorkspaceDockerRunner: the same methods and the
same GATEWAY_* variables (which the plugin reads itself), with the Docker
work done by `docker workspace` — so the gateway gets its isolation checks,
its contexts (`docker --context remote ...`) and its Compose projects, and
needs no Docker SDK. Standard library only.

    runner = WorkspaceDockerRunner.from_env()
    cid = runner.ensure_workspace_container(workspace_subdir="alice")
    out = runner.exec("alice", ["python3", "-c", "print(6*7)"]).stdout
    runner.stop_workspace_container("alice")

Exit codes of the plugin: 0 done; 125 bad input (nothing was changed); 1 the
engine refused or failed (one line on stderr says why); an exec gives the
command's own code (126/127 when it cannot be run or found).
"""
from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger(__name__)


class WorkspaceDockerError(Exception):
    """A workspace operation failed; exit_code is the plugin's."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class WorkspaceBadInput(WorkspaceDockerError, ValueError):
    """The plugin refused its input (exit 125): nothing was changed."""


class WorkspaceDisabled(WorkspaceDockerError):
    """GATEWAY_WORKSPACE_DOCKER_ENABLED is false: there is no container to run in."""


def _not_running(p: subprocess.CompletedProcess) -> bool:
    """Whether `exec --no-ensure` may have refused a workspace that does not
    run (the plugin's last line, exit 1); the caller checks that it does
    not run."""
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    return p.returncode == 1 and "is not running" in last and "--no-ensure" in last


class WorkspaceDockerRunner:
    def __init__(self, *, docker: Sequence[str] = ("docker",), context: str | None = None,
                 timeout: float = 300, env: dict[str, str] | None = None):
        self._base = [*docker, *(["--context", context] if context else []), "workspace"]
        self._timeout = timeout
        self._env = env
        # The paths each workspace was ensured with, so that exec ensures it
        # as it was made (not on the default root).
        self._paths: dict[str, tuple[Path | None, Path | None]] = {}

    @classmethod
    def from_env(cls) -> "WorkspaceDockerRunner":
        # GATEWAY_WORKSPACE_IMAGE, _DOCKER_NETWORK, _MOUNT_MODE, _DOCKER_VOLUME,
        # GATEWAY_SHARED_DOCKER_VOLUME, GATEWAY_WORKSPACE_DOCKER_ENABLED, ...
        # are read by the plugin; DOCKER_CONTEXT / DOCKER_HOST pick the engine.
        return cls()

    def _run(self, args: Sequence[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([*self._base, *args], input=input, capture_output=True, text=True,
                           timeout=self._timeout, env=self._env)
        if check and p.returncode != 0:
            msg = p.stderr.strip() or f"docker workspace {args[0]} exited {p.returncode}"
            kind = WorkspaceBadInput if p.returncode == 125 else WorkspaceDockerError
            raise kind(msg, p.returncode)
        return p

    def ensure_workspace_container(self, *, workspace_subdir: str, workspace_host_path: Path | None = None,
                                   shared_host_path: Path | None = None) -> str | None:
        """The container ID of the workspace's running sandbox (made or started
        as needed); None when GATEWAY_WORKSPACE_DOCKER_ENABLED is false."""
        if workspace_host_path is None and shared_host_path is None:
            workspace_host_path, shared_host_path = self._paths.get(workspace_subdir, (None, None))
        args = ["ensure", "--format", "json"]
        if workspace_host_path is not None:  # the original took <root>/<subdir>
            host, parts = Path(workspace_host_path), Path(workspace_subdir).parts
            if host.parts[-len(parts):] != parts:
                raise WorkspaceBadInput(f"workspace_host_path {host} is not <root>/{workspace_subdir}: the plugin mounts "
                                        f"<root>/<subdir>; nothing was changed", 125)
            root = host
            for _ in parts:
                root = root.parent
            args += ["--workspace-root", str(root)]
        if shared_host_path is not None:
            args += ["--shared-dir", str(shared_host_path)]
        p = self._run([*args, workspace_subdir])
        line = p.stdout.strip()
        if not line:  # disabled: the plugin said so on stderr
            return None
        result = json.loads(line)
        for w in p.stderr.splitlines():  # drift, a remote engine's paths
            logger.warning("%s", w)
        if workspace_host_path is not None or shared_host_path is not None:
            self._paths[workspace_subdir] = (workspace_host_path, shared_host_path)
        return result["ID"]

    def stop_workspace_container(self, workspace_subdir: str) -> None:
        """Stop it; as the original, a failure is logged, not raised."""
        p = self._run(["stop", "-t", "15", workspace_subdir], check=False)
        if p.returncode != 0:
            logger.warning("stop failed subdir=%s: %s", workspace_subdir, p.stderr.strip())

    # What the original left to `docker exec gws-...` and `docker cp`:

    def exec(self, workspace_subdir: str, argv: Sequence[str], *, input: str | None = None,
             env: dict[str, str] | None = None, user: str | None = None) -> subprocess.CompletedProcess:
        """Run argv in the workspace, in /home/agent/workspace; the result's
        returncode is the command's. The workspace is ensured first, in a
        call of its own, so that its failures raise and are never taken for
        the command's exit 1 (with the paths it was last ensured with). When
        workspace containers are disabled, WorkspaceDisabled is raised.
        (`docker workspace exec SUBDIR ...` alone does both in one process,
        when telling them apart does not matter.)

        Its own input (argv, env, user) is checked here first: what the
        plugin would refuse raises WorkspaceBadInput before anything runs.
        So after the ensure, the plugin has nothing left to refuse with 125
        (the reference is the container ID it gave): an exit 125 is the
        command's own, returned as any other."""
        args = ["exec", "--no-ensure"] + (["-i"] if input is not None else [])
        for k, v in (env or {}).items():
            if not k or "=" in k or "\0" in k or "\0" in v:
                raise WorkspaceBadInput(f"environment variable {k!r}: a name must be non-empty, without '=' "
                                        "(and no NUL in it or its value); nothing was run", 125)
            args += ["-e", f"{k}={v}"]
        if user is not None and (not user.strip() or "\0" in user):
            raise WorkspaceBadInput(f"user {user!r}: a name or uid[:gid] is needed; nothing was run", 125)
        if user:
            args += ["-u", user]
        if not argv:
            raise WorkspaceBadInput("no command to run; nothing was run", 125)
        ref = self.ensure_workspace_container(workspace_subdir=workspace_subdir)
        if ref is None:
            raise WorkspaceDisabled("workspace containers are disabled (GATEWAY_WORKSPACE_DOCKER_ENABLED=false): "
                                    f"nothing to run {argv[0]} in", 0)
        p = self._run([*args, ref, *argv], input=input, check=False)
        if _not_running(p) and self._state(ref) != "running":
            # Stopped between the ensure and the exec (a reaper): the
            # plugin refused, and the command did not run. Raised, never
            # run again: a command can print that line too, so a retry
            # could run it twice.
            raise WorkspaceDockerError(p.stderr.strip(), p.returncode)
        return p

    def _state(self, ref: str) -> str:
        p = self._run(["inspect", "-f", "{{.State.Status}}", ref], check=False)
        return p.stdout.strip()

    def copy_in(self, workspace_subdir: str, src: Path, dest: str) -> None:
        """Copy a local file or directory into the workspace (dest relative to it)."""
        self._run(["cp", str(src), f"{workspace_subdir}:{dest}"])

    def copy_out(self, workspace_subdir: str, src: str, dest: Path) -> None:
        self._run(["cp", f"{workspace_subdir}:{src}", str(dest)])

    def inspect(self, workspace_subdir: str) -> dict[str, Any]:
        return json.loads(self._run(["inspect", workspace_subdir]).stdout)[0]

    def list(self) -> list[dict[str, Any]]:
        out = self._run(["ls", "--format", "json"]).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def remove_workspace_container(self, workspace_subdir: str) -> None:
        """The container only: the workspace's data stays."""
        self._run(["rm", "-f", workspace_subdir])


if __name__ == "__main__":  # python3 workspace_docker.py SUBDIR: ensure, say hello, stop
    import sys

    logging.basicConfig(level=logging.INFO)
    r = WorkspaceDockerRunner.from_env()
    sub = sys.argv[1] if len(sys.argv) > 1 else "demo"
    cid = r.ensure_workspace_container(workspace_subdir=sub)
    if cid is None:
        sys.exit("workspace_docker.py: workspaces are switched off (GATEWAY_WORKSPACE_DOCKER_ENABLED is false)")
    print("container:", cid)
    print(r.exec(sub, ["sh", "-c", "echo hello from $(pwd)"]).stdout, end="")
    r.stop_workspace_container(sub)
