package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// gatewayDriver drives compose/gateway/workspace_docker.py, the README's
// Python example, as a gateway would, and prints what it saw as JSON.
const gatewayDriver = `
import json, os, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from workspace_docker import WorkspaceDockerRunner, WorkspaceDockerError, WorkspaceBadInput, WorkspaceDisabled

sub, other, root, shared, nowhere = sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]), sys.argv[6]
r = WorkspaceDockerRunner.from_env()
out = {}
out["first"] = r.ensure_workspace_container(workspace_subdir=sub)
out["again"] = r.ensure_workspace_container(workspace_subdir=sub)
# The original's signature: <root>/<subdir> and the shared directory.
out["paths"] = r.ensure_workspace_container(workspace_subdir=other, workspace_host_path=root / other, shared_host_path=shared)
p = r.exec(sub, ["sh", "-c", "cat; echo $GREETING; pwd; exit 3"], input="from-stdin\n", env={"GREETING": "hi"})
out["exec"] = [p.returncode, p.stdout]
# Stopped between exec's ensure and its run (a reaper): ensured again, never
# the plugin's exit 1 taken for the command's (new-user pass 14).
class Racy(WorkspaceDockerRunner):
    raced = False
    def ensure_workspace_container(self, **kw):
        ref = super().ensure_workspace_container(**kw)
        if not self.raced:
            self.raced = True
            self._run(["stop", "-t", "0", kw["workspace_subdir"]])
        return ref
try:
    p = Racy().exec(sub, ["sh", "-c", "echo ran; exit 4"])
    out["raced"] = [p.returncode, p.stdout]
except WorkspaceDockerError as e:
    out["raced"] = [e.exit_code, "raised: not running" if "is not running" in str(e) else str(e)]
# A command that prints the plugin's refusal and exits 1 is the command's
# exit 1, run once (new-user pass 15).
p = r.exec(sub, ["sh", "-c", "echo x >> runs; echo 'workspace \"q\" is not running (x): ensure it, or leave out --no-ensure' >&2; exit 1"])
out["forged"] = [p.returncode, r.exec(sub, ["cat", "runs"]).stdout]
# The command's own exit 125 is its own, not the plugin's refusal; what the
# plugin would refuse is refused before anything runs (new-user pass 16).
out["own125"] = r.exec(sub, ["sh", "-c", "exit 125"]).returncode
try:
    r.exec(sub, ["sh", "-c", "echo ran >> runs"], env={"A=B": "c"})
    out["badenv"] = "no error"
except WorkspaceBadInput as e:
    out["badenv"] = [e.exit_code, r.exec(sub, ["cat", "runs"]).stdout]
# exec ensures it with the paths it was made with: even where drift is
# replaced, it stays in its root (third new-user pass).
os.environ["GATEWAY_WORKSPACE_RECREATE"] = "if-changed"
p = r.exec(other, ["sh", "-c", "echo made-by-exec > note.txt"])
del os.environ["GATEWAY_WORKSPACE_RECREATE"]
out["note"] = (root / other / "note.txt").read_text()
try:  # a host path that is not <root>/<subdir>: refused, never another directory
    r.ensure_workspace_container(workspace_subdir=other, workspace_host_path=root / "someone-else", shared_host_path=shared)
    out["elsewhere"] = "no error"
except WorkspaceBadInput as e:
    out["elsewhere"] = str(e)
tmp = Path(tempfile.mkdtemp())
(tmp / "in.txt").write_text("copied in\n")
r.copy_in(sub, tmp / "in.txt", "in.txt")
r.copy_out(sub, "in.txt", tmp / "out.txt")
out["copy"] = (tmp / "out.txt").read_text()
info = r.inspect(sub)
out["inspect"] = [info["Subdir"], info["State"]["Status"], info["Mode"]]
out["listed"] = sorted(w["Subdir"] for w in r.list() if w["Subdir"] in (sub, other))
try:
    r.ensure_workspace_container(workspace_subdir="../escape")
    out["bad"] = "no error"
except WorkspaceBadInput as e:
    out["bad"] = [e.exit_code, str(e)]
r.stop_workspace_container(sub)
r.stop_workspace_container("never-made-" + sub)   # logged, as the original
out["stopped"] = r.inspect(sub)["State"]["Status"]
os.environ["GATEWAY_WORKSPACE_DOCKER_ENABLED"] = "false"
out["disabled"] = r.ensure_workspace_container(workspace_subdir=sub)
try:
    r.exec(sub, ["true"])
    out["disabledexec"] = "no error"
except WorkspaceDisabled as e:
    out["disabledexec"] = str(e)
del os.environ["GATEWAY_WORKSPACE_DOCKER_ENABLED"]
try:
    WorkspaceDockerRunner(context=nowhere).ensure_workspace_container(workspace_subdir=sub)
    out["unreachable"] = "no error"
except WorkspaceDockerError as e:
    out["unreachable"] = [e.exit_code, str(e)]
r.remove_workspace_container(sub)
print(json.dumps(out))
`

// The README's Python example (compose/gateway/workspace_docker.py), run as
// a gateway runs it: subprocess, --format json, exit codes.
func TestGatewayPythonExample(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	sub, other := h.subdir("-py"), h.subdir("-paths")
	root, shared := filepath.Join(t.TempDir(), "gw-root"), filepath.Join(t.TempDir(), "gw-shared")
	module, err := filepath.Abs("../compose/gateway")
	assert.NilError(t, err)
	nowhere := "e2e-nowhere-" + h.id // a context whose engine does not answer
	h.docker("context", "create", nowhere, "--docker", "host=unix://"+filepath.Join(t.TempDir(), "nothing.sock")).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("context", "rm", "-f", nowhere) })
	res := icmd.RunCmd(icmd.Command("python3", "-c", gatewayDriver, module, sub, other, root, shared, nowhere),
		icmd.WithEnv(append(h.env, "DOCKER_CONFIG="+env.configDir, "DOCKER_CONTEXT=modern")...))
	res.Assert(t, icmd.Success)
	var out struct {
		First, Again, Paths string
		Exec, Raced, Forged []any
		Own125              int
		BadEnv              []any
		Note, Copy          string
		Elsewhere           string
		DisabledExec        string
		Inspect, Listed     []string
		Bad                 []any
		Stopped             string
		Disabled            *string
		Unreachable         []any
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &out), res.Combined())
	assert.Check(t, len(out.First) == 64, "not a container ID: %q", out.First)
	assert.Check(t, is.Equal(out.Again, out.First))
	assert.Check(t, is.Equal(out.Paths, h.inspect("modern", containerName(other)).ID))
	assert.Check(t, is.DeepEqual(out.Exec, []any{3.0, "from-stdin\nhi\n/home/agent/workspace\n"}))
	assert.Check(t, is.DeepEqual(out.Raced, []any{1.0, "raised: not running"}))
	assert.Check(t, is.DeepEqual(out.Forged, []any{1.0, "x\n"}), "a command that prints the refusal ran twice, or was taken for it")
	assert.Check(t, is.Equal(out.Own125, 125))
	assert.Check(t, is.DeepEqual(out.BadEnv, []any{125.0, "x\n"}), "a bad variable ran the command, or was not refused")
	assert.Check(t, is.Equal(out.Note, "made-by-exec\n"))
	b, err := os.ReadFile(filepath.Join(root, other, "note.txt"))
	assert.Check(t, err == nil && string(b) == "made-by-exec\n", "not in the given root")
	_, err = os.Stat(shared)
	assert.Check(t, err, "the given shared directory was not used")
	assert.Check(t, is.Equal(out.Copy, "copied in\n"))
	assert.Check(t, is.Contains(out.Elsewhere, "is not <root>/"+other))
	assert.Check(t, is.Contains(out.DisabledExec, "workspace containers are disabled"))
	assert.Check(t, is.DeepEqual(out.Inspect, []string{sub, "running", "bind"}))
	assert.Check(t, is.DeepEqual(out.Listed, []string{other, sub})) // sorted: -paths, -py
	if assert.Check(t, is.Len(out.Bad, 2)) {
		assert.Check(t, is.Equal(out.Bad[0], 125.0))
		assert.Check(t, is.Contains(out.Bad[1].(string), "invalid workspace"))
	}
	assert.Check(t, is.Equal(out.Stopped, "exited"))
	assert.Check(t, out.Disabled == nil, "disabled, yet %v", out.Disabled)
	if assert.Check(t, is.Len(out.Unreachable, 2)) {
		assert.Check(t, is.Equal(out.Unreachable[0], 1.0))
		assert.Check(t, is.Contains(out.Unreachable[1].(string), `cannot connect to the Docker engine of context "`+nowhere+`"`))
	}
	assert.Check(t, !h.exists("modern", containerName(sub)))
	// The original's warning for a stop that failed, on stderr (logging).
	assert.Check(t, !strings.Contains(res.Stderr(), "Traceback"), res.Stderr())
}
