package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// A disk cap that the file system cannot enforce is refused in one line,
// nothing made, on ensure and on update; doctor says why (issue 18). This
// engine's host has no XFS project quotas (its kernel has no quota
// support), so this is the refusal, never a cap taken and not kept.
func TestDiskCapNotEnforcedIsRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	for _, mode := range []string{"bind", "volume_subpath"} {
		s := h.subdir("-" + mode)
		res := h.ws(ensureArgs(append(modeArgs(h, mode), "--disk", "1g"), s)...)
		res.Assert(t, icmd.Expected{ExitCode: 125, Err: "a disk cap cannot be enforced: "})
		assert.Check(t, is.Equal(res.Stdout(), ""))
		h.docker("container", "inspect", containerName(s)).Assert(t, icmd.Expected{ExitCode: 1, Err: "No such container"})
		_, err := os.Lstat(filepath.Join(h.workspaceRoot(), s))
		assert.Check(t, os.IsNotExist(err), "a workspace directory was made: %v", err)
	}
	// Said with where it was set (new-user pass 6).
	h.withEnv("GATEWAY_WORKSPACE_DISK=2g").ws("ensure", h.subdir("-env")).Assert(t, icmd.Expected{ExitCode: 125, Err: "GATEWAY_WORKSPACE_DISK: a disk cap cannot be enforced"})

	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	before := h.inspect("modern", containerName(s))
	h.ws("update", "--disk", "1g", s).Assert(t, icmd.Expected{ExitCode: 125, Err: "a disk cap cannot be enforced"})
	for _, bad := range []string{"0", "-1g", "lots"} {
		h.ws("update", "--disk", bad, s).Assert(t, icmd.Expected{ExitCode: 125, Err: "invalid disk cap"})
		h.ws("ensure", "--disk", bad, s).Assert(t, icmd.Expected{ExitCode: 125, Err: "invalid disk cap"})
	}
	after := h.inspect("modern", containerName(s))
	assert.Check(t, is.Equal(after.ID, before.ID))
	assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt))

	doc := h.ws("doctor")
	doc.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^Disk cap: +not available: the workspace's directory is on \S+: it needs XFS with project quotas`, doc.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^Writable layer: +`, doc.Stdout()))
	h.ws("doctor", "--disk", "1g").Assert(t, icmd.Expected{ExitCode: 1, Out: "Result:"})
}

// Swarm refuses a disk cap too, before any service is made.
func TestSwarmDiskCapIsRefused(t *testing.T) {
	s := newSwarmHarness(t)
	sub := s.subdir("")
	s.ws("ensure", "--disk", "1g", sub).Assert(t, icmd.Expected{ExitCode: 125, Err: "a disk cap cannot be enforced"})
	s.docker("--context", "swarm", "service", "inspect", containerName(sub)).Assert(t, icmd.Expected{ExitCode: 1})
}

// A memory bomb in one workspace kills only its own process: the
// workspace goes on running, and its neighbour is untouched (issue 18).
func TestMemoryBombStaysInItsProcess(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-bomb"), h.subdir("-neighbour")
	h.ws("ensure", "--memory", "64m", a, b).Assert(t, icmd.Success)
	h.ws("exec", b, "sh", "-c", "echo kept > /home/agent/workspace/f").Assert(t, icmd.Success)
	// tail of /dev/zero keeps all it reads: memory without end.
	res := h.ws("exec", a, "tail", "/dev/zero")
	assert.Check(t, is.Equal(res.ExitCode, 137), "the bomb was not killed: %s", res.Combined())
	ia, ib := h.inspect("modern", containerName(a)), h.inspect("modern", containerName(b))
	assert.Check(t, is.Equal(ia.State.Status, "running"), "the bomb's workspace stopped")
	assert.Check(t, is.Equal(ib.State.Status, "running"), "the neighbour stopped")
	h.ws("exec", a, "echo", "alive").Assert(t, icmd.Expected{Out: "alive"})
	h.ws("exec", b, "cat", "/home/agent/workspace/f").Assert(t, icmd.Expected{Out: "kept"})
}
