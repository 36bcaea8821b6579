package plugin

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/streams"
	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// execEngine is a fake engine that runs detached execs.
type execEngine struct {
	*sandboxtest.Engine
	created []container.ExecOptions
}

func (e *execEngine) ContainerExecCreate(_ context.Context, ctr string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.Record("exec-create:%s", ctr)
	e.created = append(e.created, o)
	return container.ExecCreateResponse{ID: "exec-1"}, nil
}

func (e *execEngine) ContainerExecStart(_ context.Context, id string, o container.ExecStartOptions) error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.Record("exec-start:%s", id)
	return nil
}

// A warm exec costs what a warm ensure does (one inspect) and the exec's
// own calls: docker exec's check of the container is answered from the
// ensure.
func TestExecAddsNoRoundTrip(t *testing.T) {
	e := &execEngine{Engine: workspacesEngine(container.StateRunning)}
	id := e.ByName("gws-a").ID
	c := newTestCLI(t, e, "")
	assert.NilError(t, c.run("exec", "-d", "-e", "A=1", "a", "sleep", "1"))
	assert.Check(t, is.Equal(e.Calls(), "inspect:gws-a exec-create:"+id+" exec-start:exec-1"))
	assert.Assert(t, is.Len(e.created, 1))
	assert.Check(t, is.DeepEqual(e.created[0].Cmd, []string{"sleep", "1"}))
	assert.Check(t, is.Equal(e.created[0].WorkingDir, sandbox.WorkspaceTarget), "the workspace is the default directory")
	assert.Check(t, is.DeepEqual(e.created[0].Env, []string{"A=1"}), "-e is the command's, not ensure's")

	// -u and -w are docker exec's, and what follows the workspace is the
	// command's, flags and all.
	e.CallLog, e.created = nil, nil
	assert.NilError(t, c.run("exec", "-d", "-u", "0", "-w", "/tmp", "a", "ls", "-l", "--all"))
	assert.Check(t, is.Equal(e.created[0].User, "0"))
	assert.Check(t, is.Equal(e.created[0].WorkingDir, "/tmp"))
	assert.Check(t, is.DeepEqual(e.created[0].Cmd, []string{"ls", "-l", "--all"}))

	// exec ensures first, and says drift as ensure does (issue 22,
	// new-user pass): here, a container that recorded none.
	c.err.Reset()
	assert.NilError(t, c.run("exec", "-d", "a", "true"))
	assert.Check(t, is.Contains(c.err.String(), `warning: workspace "a": container gws-a differs from the configuration (unknown); kept`))
}

// --no-ensure: a stopped workspace is not started, and nothing runs.
func TestExecNoEnsure(t *testing.T) {
	e := &execEngine{Engine: workspacesEngine(container.StateExited)}
	c := newTestCLI(t, e, "")
	err := c.run("exec", "--no-ensure", "a", "true")
	assert.Check(t, is.ErrorContains(err, `workspace "a" is not running (its container gws-a is exited)`))
	err = c.run("exec", "--no-ensure", "nobody", "true")
	assert.Check(t, is.ErrorContains(err, `no such workspace: workspace "nobody" has no container`))
	for _, call := range e.CallLog {
		assert.Check(t, !strings.HasPrefix(call, "exec-") && !strings.HasPrefix(call, "start"), "%v", e.CallLog)
	}
}

// Bad input is refused before any call: exit 125.
func TestVerbsRefuseBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"exec", "--profile", "hardened", "--privileged", "a", "true"}, "--privileged is refused with the hardened profile"},
		{[]string{"exec", "../a", "true"}, "invalid workspace"},
		{[]string{"cp", "a:x", "b:y"}, "copying between workspaces is not supported"},
		{[]string{"cp", "./x", "./y"}, "one of the paths must be WORKSPACE:PATH"},
		{[]string{"reap"}, "--idle-for is required"},
		{[]string{"reap", "--idle-for", "1m", "--interval", "0s"}, "invalid --interval 0s"},
		{[]string{"reap", "--idle-for", "1m", "--cpu", "0"}, "invalid --cpu 0"},
		{[]string{"reap", "--idle-for", "1m", "--filter", "color=red"}, "invalid filter 'color'"},
		{[]string{"prune", "-f", "--filter", "until=soon"}, "until"},
		{[]string{"prune", "-f", "--filter", "color=red"}, "invalid filter 'color'"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := sandboxtest.NewEngine()
			c := newTestCLI(t, f, "")
			err := c.run(tc.args...)
			assert.Check(t, is.ErrorContains(err, tc.err))
			assert.Check(t, is.Equal(exitCode(err), 125), "%v", err)
			assert.Check(t, is.Equal(f.Calls(), ""), "the engine was asked")
		})
	}
}

// prune removes stopped workspace containers only, after a yes.
func TestPrune(t *testing.T) {
	f := workspacesEngine(container.StateExited)
	f.OnRemove = func(_ *sandboxtest.Ctr, opts container.RemoveOptions) error {
		assert.Check(t, !opts.RemoveVolumes, "prune removed volumes")
		return nil
	}
	ids := f.ByName("gws-a").ID
	c := newTestCLI(t, f, "")
	c.in("n\n")
	// A "no" is no failure, as with docker container prune (issue 22, Low).
	assert.NilError(t, c.run("prune"))
	assert.Check(t, is.Contains(c.err.String(), "cancelled"))
	assert.Check(t, is.Len(f.Names(), 4))
	assert.NilError(t, c.run("prune", "-f"))
	assert.Check(t, is.Len(f.Names(), 0))
	assert.Check(t, is.Contains(c.out.String(), "Deleted Containers:\n"))
	assert.Check(t, is.Contains(c.out.String(), ids))
	assert.Check(t, is.Contains(c.out.String(), "Total reclaimed space:"))

	// One workspace's, by its subdir (issue 22, Low).
	f = workspacesEngine(container.StateExited)
	c = newTestCLI(t, f, "")
	assert.NilError(t, c.run("prune", "-f", "--filter", "subdir=a"))
	assert.Check(t, is.Len(f.Names(), 3))
	assert.Check(t, f.ByName("gws-a") == nil)
	assert.Check(t, is.ErrorContains(c.run("prune", "-f", "--filter", "subdir=a", "--filter", "subdir=b"), "only one subdir"))

	// Running ones stay.
	f = workspacesEngine(container.StateRunning)
	c = newTestCLI(t, f, "")
	assert.NilError(t, c.run("prune", "-f"))
	assert.Check(t, is.Len(f.Names(), 4))
}

func TestCopyPaths(t *testing.T) {
	for arg, want := range map[string][3]string{
		"a:x":           {"a", "x", "true"},
		"gws-a:/etc/x":  {"gws-a", "/etc/x", "true"},
		"./a:b":         {"", "./a:b", "false"},
		"/abs/a:b":      {"", "/abs/a:b", "false"},
		"-":             {"", "-", "false"},
		"plain":         {"", "plain", "false"},
		"team/bob:dir/": {"team/bob", "dir/", "true"},
	} {
		ref, p, ok := splitWorkspaceArg(arg)
		assert.Check(t, is.DeepEqual([3]string{ref, p, map[bool]string{true: "true", false: "false"}[ok]}, want), arg)
	}
	assert.Check(t, is.Equal(trailing("dir/."), "/."))
	assert.Check(t, is.Equal(trailing("dir/"), "/"))
	assert.Check(t, is.Equal(trailing("dir"), ""))
}

// in gives the command its standard input.
func (c *testCLI) in(s string) { c.SetIn(streams.NewIn(io.NopCloser(strings.NewReader(s)))) }

// A workspace known by its record only refuses one above it, and says how
// to forget it; rm --forget does, keeping the data (issue 22, 10).
func TestRemoveForget(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.FS["ws"] = sandboxtest.NewMemFS()
	c := newTestCLI(t, f, "")
	t.Setenv("GATEWAY_WORKSPACE_MOUNT_MODE", "volume_subpath")
	t.Setenv("GATEWAY_WORKSPACE_DOCKER_VOLUME", "ws")
	t.Setenv("GATEWAY_SHARED_DOCKER_VOLUME", "sh")
	assert.NilError(t, c.run("ensure", "parent/child"))
	assert.NilError(t, c.run("rm", "-f", "parent/child"))
	err := c.run("ensure", "parent")
	assert.Check(t, is.ErrorContains(err, "`docker workspace rm --forget parent/child` with this command's root or volume flags forgets it (its data stays)"))
	assert.Check(t, is.ErrorContains(c.run("rm", "--forget", "../x"), `invalid workspace subdir "../x"`))
	t.Setenv("GATEWAY_SHARED_DOCKER_VOLUME", "") // the records are all it touches
	assert.NilError(t, c.run("rm", "--forget", "parent/child"))
	assert.Check(t, is.Contains(c.err.String(), `workspace "parent/child" forgotten; its data stays`))
	assert.Check(t, f.FS["ws"].Entries["parent/child"] != nil, "the data went")
	// Forgotten already: an error, -f or not (-f is about the container).
	assert.Check(t, is.ErrorContains(c.run("rm", "-f", "--forget", "parent/child"), ""))
	assert.Check(t, is.Contains(c.err.String(), "nothing to forget"))
	t.Setenv("GATEWAY_SHARED_DOCKER_VOLUME", "sh")
	assert.NilError(t, c.run("ensure", "parent"))
}

// With ensuring turned off, exec says so (issue 22, Low).
func TestExecSaysEnsuringIsOff(t *testing.T) {
	e := &execEngine{Engine: workspacesEngine(container.StateRunning)}
	c := newTestCLI(t, e, "")
	t.Setenv("GATEWAY_WORKSPACE_DOCKER_ENABLED", "false")
	assert.NilError(t, c.run("exec", "-d", "a", "true"))
	assert.Check(t, is.Contains(c.err.String(), `GATEWAY_WORKSPACE_DOCKER_ENABLED is false: not ensuring workspace "a"`))
}

// The reaper logs a workspace when its state changes, not on every pass;
// --quiet logs no decision (issue 22, Low).
func TestReapLogsChangesOnly(t *testing.T) {
	a := sandbox.Workspace{ID: "id-a", Name: "gws-a", Subdir: "a"}
	b := sandbox.Workspace{ID: "id-b", Name: "gws-b", Subdir: "b"}
	passes := [][]sandbox.Decision{
		{{Workspace: a, Action: "busy", Why: "an exec runs"}, {Workspace: b, Action: "idle", Why: "nothing runs", IdleSince: time.Now()}},
		{{Workspace: a, Action: "busy", Why: "an exec runs"}, {Workspace: b, Action: "idle", Why: "nothing runs", IdleSince: time.Now()}},
		{{Workspace: a, Action: "idle", Why: "nothing runs", IdleSince: time.Now()}, {Workspace: b, Action: "stopped", Why: "idle for 1m"}},
		{{Workspace: a, Action: "idle", Why: "nothing runs", IdleSince: time.Now()}},
	}
	var out strings.Builder
	l := &reapLog{w: &out}
	for _, ds := range passes {
		l.decisions(ds)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Assert(t, is.Len(lines, 4), out.String())
	assert.Check(t, is.Contains(lines[0], "a (gws-a): busy: an exec runs"))
	assert.Check(t, is.Contains(lines[1], "b (gws-b): idle for"))
	assert.Check(t, is.Contains(lines[2], "a (gws-a): idle for"))
	assert.Check(t, is.Contains(lines[3], "b (gws-b): stopped: idle for 1m"))

	out.Reset()
	quiet := &reapLog{w: &out, quiet: true}
	for _, ds := range passes {
		quiet.decisions(ds)
	}
	assert.Check(t, is.Equal(out.String(), ""))
}

// stats says each running workspace's use as docker stats computes it:
// CPU % of the host's time times its CPUs, memory without the page cache
// against the limit, processes (issue 18).
func TestStats(t *testing.T) {
	f := workspacesEngine(container.StateRunning)
	a := f.ByName("gws-a")
	a.CPU, a.HC.Memory, a.Procs = 5e8, 64<<20, []string{"make", "cc"}
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("stats", "--no-stream", "--format", "{{.Subdir}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}}", "a"))
	assert.Check(t, is.Equal(c.out.String(), "a 100.00% 1MiB / 64MiB 1.56% 4\n"))
	assert.Check(t, is.ErrorContains(c.run("stats", "--no-stream", "nobody"), "no such workspace: nobody"))
	assert.Check(t, is.ErrorContains(c.run("stats", "--no-stream", "--format", "{{.CPUPrec}}"), "can't evaluate field CPUPrec"))
}

// A workspace's container name where a subdir goes (exec, shell, ensure)
// is refused, naming the workspace, and makes nothing (new-user pass 11:
// it made a new workspace of that name).
func TestContainerNameIsNoSubdir(t *testing.T) {
	e := &execEngine{Engine: workspacesEngine(container.StateRunning)}
	c := newTestCLI(t, e, "")
	for _, args := range [][]string{{"exec", "gws-a", "true"}, {"shell", "gws-a"}, {"ensure", "b", "gws-a"}} {
		e.CallLog = nil
		err := c.run(args...)
		assert.Check(t, is.ErrorContains(err, `gws-a is the container of workspace "a", not a workspace's subdir`), "%v", args)
		assert.Check(t, is.Equal(exitCode(err), 125), "%v", args)
		assert.Check(t, !strings.Contains(e.Calls(), "create:"), "%v: %s", args, e.Calls())
	}
	assert.NilError(t, c.run("exec", "--no-ensure", "-d", "gws-a", "true"))
	// Its ID, as ls -q prints it, the same (new-user pass 17).
	id := e.ByName("gws-a").ID[:12]
	for _, args := range [][]string{{"exec", id, "true"}, {"ensure", id}} {
		e.CallLog = nil
		err := c.run(args...)
		assert.Check(t, is.ErrorContains(err, id+` is the container of workspace "a", not a workspace's subdir`), "%v", args)
		assert.Check(t, is.Equal(exitCode(err), 125), "%v", args)
		assert.Check(t, !strings.Contains(e.Calls(), "create:"), "%v: %s", args, e.Calls())
	}
}
