package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// Engine 20.10 would silently mount the whole volume: volume_subpath is
// refused there, and nothing is created.
func TestLegacyRefusesVolumeSubpath(t *testing.T) {
	api := requireEngine(t, "legacy")
	assert.Assert(t, is.Equal(api, "1.41"), "the legacy engine is expected to be Engine 20.10")
	h := newHarness(t)
	s := h.subdir("")
	wsVol := "e2e-vol-" + h.id + "-never"
	res := h.docker("--context", "legacy", "workspace", "ensure", "--mount-mode", "volume_subpath",
		"--workspace-volume", wsVol, "--shared-volume", wsVol+"-sh", s)
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "volume_subpath mode needs Docker Engine API 1.45 or later (Engine 26+), but this engine speaks API 1.41"})
	assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "not one line: %q", res.Stderr())
	assert.Check(t, !h.exists("legacy", containerName(s)))
	h.docker("--context", "legacy", "ps", "-aq", "--filter", "label=docker-workspace.helper").Assert(t, icmd.Expected{Out: ""})
	h.docker("--context", "legacy", "volume", "inspect", wsVol).Assert(t, icmd.Expected{ExitCode: 1})
}

// Bind mode works on the legacy engine through --context and DOCKER_CONTEXT,
// and touches that engine only.
func TestLegacyBindThroughContext(t *testing.T) {
	requireEngine(t, "legacy")
	requireEngine(t, "modern")
	h := newHarness(t)
	viaFlag, viaEnv := h.subdir("-flag"), h.subdir("-env")

	id := strings.TrimSpace(h.docker("--context", "legacy", "workspace", "ensure", viaFlag).Assert(t, icmd.Success).Stdout())
	assert.Check(t, is.Equal(h.inspect("legacy", containerName(viaFlag)).ID, id))
	assert.Check(t, !h.exists("modern", containerName(viaFlag)), "the modern engine got a container")

	legacy := h.withEnv("DOCKER_CONTEXT=legacy")
	id = strings.TrimSpace(legacy.ws("ensure", viaEnv).Assert(t, icmd.Success).Stdout())
	c := h.inspect("legacy", containerName(viaEnv))
	assert.Check(t, is.Equal(c.ID, id))
	assert.Check(t, is.Equal(c.State.Status, "running"))
	typ, _, src, _ := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(typ, "bind"))
	assert.Check(t, is.Equal(src, filepath.Join(h.workspaceRoot(), viaEnv)))
	assert.Check(t, !h.exists("modern", containerName(viaEnv)), "the modern engine got a container")

	legacy.docker("exec", containerName(viaEnv), "sh", "-c", "echo hi > /home/agent/workspace/f").Assert(t, icmd.Success)
	b, err := os.ReadFile(filepath.Join(h.workspaceRoot(), viaEnv, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "hi\n"))

	ls := legacy.ws("ls", "--format", "{{.Subdir}}")
	ls.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(ls.Stdout(), viaFlag+"\n"))
	assert.Check(t, is.Contains(ls.Stdout(), viaEnv+"\n"))
	assert.Check(t, !strings.Contains(h.ws("ls").Stdout(), viaEnv), "ls on the modern context lists a legacy workspace")

	legacy.ws("stop", viaEnv).Assert(t, icmd.Expected{Out: viaEnv})
	assert.Check(t, is.Equal(h.inspect("legacy", containerName(viaEnv)).State.Status, "exited"))
}

func TestUnreachableContext(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	h.docker("context", "create", "e2e-nowhere-"+h.id, "--docker", "host=unix://"+sock).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("context", "rm", "-f", "e2e-nowhere-"+h.id) })
	want := `cannot connect to the Docker engine of context "e2e-nowhere-` + h.id + `" at unix://` + sock + `: is it running?`
	for _, args := range [][]string{{"ensure", "a", "b"}, {"stop", "a"}, {"rm", "-f", "a"}, {"ls"},
		{"exec", "a", "true"}, {"exec", "--no-ensure", "a", "true"}, {"shell", "a"}, {"cp", "a:x", "/tmp/x"},
		{"inspect", "a"}, {"restart", "a"}, {"prune", "-f"}, {"reap", "--once", "--idle-for", "1s"}} {
		res := h.docker(append([]string{"--context", "e2e-nowhere-" + h.id, "workspace"}, args...)...)
		res.Assert(t, icmd.Expected{ExitCode: 1, Out: ""})
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), want), "%v", args)
	}
	res := h.withEnv("DOCKER_HOST=unix://" + sock).ws("ls")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), `cannot connect to the Docker engine of context "default" at unix://`+sock+`: is it running?`))
}
