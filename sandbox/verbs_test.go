package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestReaperStopsWhatIsIdleForLong(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	idle := placed(t, f, "idle", cfg, container.StateRunning)
	proc := placed(t, f, "proc", cfg, container.StateRunning)
	proc.procs = []string{"sleep 3600"}
	execs := placed(t, f, "exec", cfg, container.StateRunning)
	execs.execs = map[string]bool{"e1": true, "e0": false}
	cpu := placed(t, f, "cpu", cfg, container.StateRunning)
	stopped := placed(t, f, "stopped", cfg, container.StateExited)
	notOurs := f.add("gws-not-ours", container.StateRunning, container.Config{}, container.HostConfig{})

	r := NewManager(f).NewReaper(ReapOptions{IdleFor: 10 * time.Minute})
	t0 := time.Now()
	decide := func(at time.Time) map[string]Decision {
		t.Helper()
		cpu.cpu += uint64(at.Sub(t0).Nanoseconds()) // one whole CPU, all the time
		ds, err := r.Pass(context.Background(), at)
		assert.NilError(t, err)
		out := map[string]Decision{}
		for _, d := range ds {
			out[d.Workspace.Subdir] = d
		}
		return out
	}
	got := decide(t0)
	assert.Check(t, is.Equal(got["idle"].Action, "idle"))
	assert.Check(t, is.Equal(got["proc"].Action, "busy"))
	assert.Check(t, is.Contains(got["proc"].Why, `process "sleep 3600" runs`))
	assert.Check(t, is.Equal(got["exec"].Action, "busy"))
	assert.Check(t, is.Contains(got["exec"].Why, "an exec session runs"))
	assert.Check(t, is.Equal(got["cpu"].Action, "idle"), "one sample tells no CPU use")
	_, listed := got["stopped"]
	assert.Check(t, !listed)

	got = decide(t0.Add(5 * time.Minute))
	assert.Check(t, is.Equal(got["idle"].Action, "idle"))
	assert.Check(t, is.Equal(got["cpu"].Action, "busy"))
	assert.Check(t, is.Contains(got["cpu"].Why, "of a CPU"))

	got = decide(t0.Add(11 * time.Minute))
	assert.Check(t, is.Equal(got["idle"].Action, "stopped"))
	for _, c := range []*fakeCtr{proc, execs, cpu, notOurs} {
		assert.Check(t, is.Equal(c.state, container.StateRunning), c.name)
	}
	assert.Check(t, is.Equal(idle.state, container.StateExited))
	assert.Check(t, is.Equal(stopped.state, container.StateExited))

	// A new reaper starts counting anew.
	proc.procs = nil
	r = NewManager(f).NewReaper(ReapOptions{IdleFor: 10 * time.Minute})
	got = decide(t0.Add(30 * time.Minute))
	assert.Check(t, is.Equal(got["proc"].Action, "idle"))
}

func TestReaperOnce(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	old := placed(t, f, "old", cfg, container.StateRunning)
	old.started = time.Now().Add(-time.Hour)
	young := placed(t, f, "young", cfg, container.StateRunning)
	young.started = time.Now()
	busy := placed(t, f, "busy", cfg, container.StateRunning)
	busy.started = time.Now().Add(-time.Hour)
	busy.procs = []string{"python agent.py"}
	ds, err := NewManager(f).NewReaper(ReapOptions{IdleFor: 30 * time.Minute}).Once(context.Background(), 10*time.Millisecond)
	assert.NilError(t, err)
	actions := map[string]string{}
	for _, d := range ds {
		actions[d.Workspace.Subdir] = d.Action
	}
	assert.Check(t, is.DeepEqual(actions, map[string]string{"old": "stopped", "young": "idle", "busy": "busy"}))
}

func TestPrune(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	a := placed(t, f, "a", cfg, container.StateExited)
	a.size = 100
	b := placed(t, f, "b", cfg, container.StateExited)
	b.cfg.Labels[LabelComposeProject] = "gw"
	b.size = 20
	running := placed(t, f, "run", cfg, container.StateRunning)
	seed := f.add("gws-seed", container.StateExited, container.Config{}, container.HostConfig{Mounts: bindMounts("/srv/seed", "/srv/sh", false)})
	boot := bootID()
	deadTemp := f.add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{LabelSubdir: "c", LabelCreator: boot + ":999999999:1"}}, container.HostConfig{})
	liveTemp := f.add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{LabelSubdir: "d", LabelCreator: thisProcess()}}, container.HostConfig{})
	old := f.add(tempName(oldPrefix), container.StateExited, container.Config{Labels: map[string]string{LabelSubdir: "e", LabelCreator: thisProcess()}}, container.HostConfig{})

	report, err := NewManager(f).Prune(context.Background(), PruneOptions{ComposeProject: "gw"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(report.Removed, 1))
	assert.Check(t, is.Equal(report.SpaceReclaimed, uint64(20)))
	assert.Check(t, f.byName(b.name) == nil)

	report, err = NewManager(f).Prune(context.Background(), PruneOptions{Until: time.Now().Add(-24 * time.Hour)})
	assert.NilError(t, err)
	assert.Check(t, is.Len(report.Removed, 0), "too new")

	report, err = NewManager(f).Prune(context.Background(), PruneOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(report.SpaceReclaimed, uint64(100)))
	for _, c := range []*fakeCtr{a, old} {
		assert.Check(t, f.byName(c.name) == nil, "%s kept", c.name)
	}
	if boot != "" {
		assert.Check(t, f.byName(deadTemp.name) == nil, "a dead process's temporary kept")
	}
	for _, c := range []*fakeCtr{running, seed, liveTemp} {
		assert.Check(t, f.byName(c.name) != nil, "%s removed", c.name)
	}
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "a"))
	assert.Check(t, err, "the data of a went")
}

func TestRestartChecksAsAStartDoes(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	placed(t, f, "p", cfg, container.StateRunning)
	kid := placed(t, f, "p/k", cfg, container.StateRunning)
	ok := placed(t, f, "q", cfg, container.StateRunning)
	list, err := NewManager(f).List(context.Background())
	assert.NilError(t, err)
	byName := map[string]Workspace{}
	for _, w := range list {
		byName[w.Name] = w
	}
	found, err := NewManager(f).Restart(context.Background(), byName[kid.name], StopOptions{}, true)
	assert.Check(t, found)
	assert.Check(t, is.ErrorIs(err, ErrOverlap))
	found, err = NewManager(f).Restart(context.Background(), byName[ok.name], StopOptions{}, true)
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Contains(f.callList(), "restart:gws-q"))
	assert.Check(t, !strings.Contains(f.callList(), "restart:gws-p-k"))
}

func TestInspectTellsTheRecordedConfiguration(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	c := placed(t, f, "a", cfg, container.StateRunning)
	info, err := NewManager(f).Inspect(context.Background(), Workspace{ID: c.id, Name: c.name, Subdir: "a", Mode: ModeBind})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(info.Subdir, "a"))
	assert.Check(t, is.Equal(string(info.Config), specFor("a", cfg, imgID).json()))
	assert.Check(t, is.Len(info.Mounts, 2))
	assert.Check(t, is.DeepEqual(info.Drift, []string{}))
}

func TestLoginShell(t *testing.T) {
	f := newFakeEngine()
	c := f.add("gws-a", container.StateRunning, container.Config{}, container.HostConfig{})
	f.passwd = "root:x:0:0::/root:/bin/ash\nagent:x:1000:1000::/home/agent:/bin/bash\nnone:x:5:5::/:\n"
	m := NewManager(f)
	ctx := context.Background()
	assert.Check(t, is.Equal(m.LoginShell(ctx, c.id, "agent"), "/bin/bash"))
	assert.Check(t, is.Equal(m.LoginShell(ctx, c.id, "1000:1000"), "/bin/bash"))
	assert.Check(t, is.Equal(m.LoginShell(ctx, c.id, ""), "/bin/ash"))
	assert.Check(t, is.Equal(m.LoginShell(ctx, c.id, "none"), "sh"))
	assert.Check(t, is.Equal(m.LoginShell(ctx, c.id, "nobody"), "sh"))
}

func TestResolve(t *testing.T) {
	cfg := bindConfig(t)
	f := newFakeEngine()
	q := placed(t, f, "q", cfg, container.StateRunning)      // gws-q
	gq := placed(t, f, "gws-q", cfg, container.StateRunning) // gws-gws-q
	hexa := placed(t, f, "deadbeefcafe", cfg, container.StateRunning)
	plain := f.add("plain-"+q.id[:6], container.StateRunning, container.Config{}, container.HostConfig{}) // not a workspace's
	f.add("gws-a-b", container.StateRunning, container.Config{Labels: map[string]string{LabelSubdir: "a b", LabelMode: "bind"}},
		container.HostConfig{Mounts: bindMounts(filepath.Join(cfg.WorkspaceRoot, "a b"), cfg.SharedDir, false)})
	m := NewManager(f)
	for _, tc := range []struct {
		ref, container, err string
		named               bool
	}{
		{ref: "q", container: q.id, named: false},
		{ref: "gws-gws-q", container: gq.id, named: true},
		{ref: q.id, container: q.id, named: true},
		{ref: q.id[:12], container: q.id, named: true},
		{ref: "gws-q", err: `"gws-q" is ambiguous: it is the subdir of gws-gws-q and names gws-q`},
		{ref: "deadbeefcafe", container: hexa.id},
		{ref: "nothing", container: ""},
		{ref: "gws-nothing", container: ""}, // the command says what that means
		{ref: plain.id, err: "container plain-" + q.id[:6] + " is not a workspace container"},
		{ref: "a-b", err: `belongs to workspace "a b", not "a-b"`},
	} {
		targets, err := m.Resolve(context.Background(), []string{tc.ref})
		assert.NilError(t, err)
		got := targets[0]
		if tc.err != "" {
			assert.Check(t, is.ErrorContains(got.Err, tc.err), tc.ref)
			assert.Check(t, got.Container == nil, tc.ref)
			continue
		}
		assert.Check(t, got.Err, tc.ref)
		if tc.container == "" {
			assert.Check(t, got.Container == nil, tc.ref)
			continue
		}
		if assert.Check(t, got.Container != nil, tc.ref) {
			assert.Check(t, is.Equal(got.Container.ID, tc.container), tc.ref)
		}
		assert.Check(t, is.Equal(got.Named, tc.named), tc.ref)
	}
}
