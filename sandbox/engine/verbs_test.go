package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func TestReaperStopsWhatIsIdleForLong(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	idle := placed(t, f, "idle", cfg, container.StateRunning)
	proc := placed(t, f, "proc", cfg, container.StateRunning)
	proc.Procs = []string{"sleep 3600"}
	execs := placed(t, f, "exec", cfg, container.StateRunning)
	execs.Execs = map[string]bool{"e1": true, "e0": false}
	cpu := placed(t, f, "cpu", cfg, container.StateRunning)
	stopped := placed(t, f, "stopped", cfg, container.StateExited)
	notOurs := f.Add("gws-not-ours", container.StateRunning, container.Config{}, container.HostConfig{})

	r := newManager(f).NewReaper(sandbox.ReapOptions{IdleFor: 10 * time.Minute})
	t0 := time.Now()
	decide := func(at time.Time) map[string]sandbox.Decision {
		t.Helper()
		cpu.CPU += uint64(at.Sub(t0).Nanoseconds()) // one whole CPU, all the time
		ds, err := r.Pass(context.Background(), at)
		assert.NilError(t, err)
		out := map[string]sandbox.Decision{}
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
	for _, c := range []*sandboxtest.Ctr{proc, execs, cpu, notOurs} {
		assert.Check(t, is.Equal(c.State, container.StateRunning), c.Name)
	}
	assert.Check(t, is.Equal(idle.State, container.StateExited))
	assert.Check(t, is.Equal(stopped.State, container.StateExited))

	// A new reaper starts counting anew.
	proc.Procs = nil
	r = newManager(f).NewReaper(sandbox.ReapOptions{IdleFor: 10 * time.Minute})
	got = decide(t0.Add(30 * time.Minute))
	assert.Check(t, is.Equal(got["proc"].Action, "idle"))
}

func TestReaperOnce(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	old := placed(t, f, "old", cfg, container.StateRunning)
	old.Started = time.Now().Add(-time.Hour)
	young := placed(t, f, "young", cfg, container.StateRunning)
	young.Started = time.Now()
	busy := placed(t, f, "busy", cfg, container.StateRunning)
	busy.Started = time.Now().Add(-time.Hour)
	busy.Procs = []string{"python agent.py"}
	ds, err := newManager(f).NewReaper(sandbox.ReapOptions{IdleFor: 30 * time.Minute}).Once(context.Background(), 10*time.Millisecond)
	assert.NilError(t, err)
	actions := map[string]string{}
	for _, d := range ds {
		actions[d.Workspace.Subdir] = d.Action
	}
	assert.Check(t, is.DeepEqual(actions, map[string]string{"old": "stopped", "young": "idle", "busy": "busy"}))
}

func TestPrune(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	a := placed(t, f, "a", cfg, container.StateExited)
	a.Size = 100
	b := placed(t, f, "b", cfg, container.StateExited)
	b.Cfg.Labels[sandbox.LabelComposeProject] = "gw"
	b.Size = 20
	running := placed(t, f, "run", cfg, container.StateRunning)
	seed := f.Add("gws-seed", container.StateExited, container.Config{}, container.HostConfig{Mounts: sandbox.BindMounts("/srv/seed", "/srv/sh", false)})
	boot := bootID()
	deadTemp := f.Add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "c", sandbox.LabelCreator: boot + ":999999999:1"}}, container.HostConfig{})
	liveTemp := f.Add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "d", sandbox.LabelCreator: thisProcess()}}, container.HostConfig{})
	old := f.Add(tempName(oldPrefix), container.StateExited, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "e", sandbox.LabelCreator: thisProcess()}}, container.HostConfig{})

	report, err := newManager(f).Prune(context.Background(), sandbox.PruneOptions{ComposeProject: "gw"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(report.Removed, 1))
	assert.Check(t, is.Equal(report.SpaceReclaimed, uint64(20)))
	assert.Check(t, f.ByName(b.Name) == nil)

	report, err = newManager(f).Prune(context.Background(), sandbox.PruneOptions{Until: time.Now().Add(-24 * time.Hour)})
	assert.NilError(t, err)
	assert.Check(t, is.Len(report.Removed, 0), "too new")

	report, err = newManager(f).Prune(context.Background(), sandbox.PruneOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(report.SpaceReclaimed, uint64(100)))
	for _, c := range []*sandboxtest.Ctr{a, old} {
		assert.Check(t, f.ByName(c.Name) == nil, "%s kept", c.Name)
	}
	if boot != "" {
		assert.Check(t, f.ByName(deadTemp.Name) == nil, "a dead process's temporary kept")
	}
	for _, c := range []*sandboxtest.Ctr{running, seed, liveTemp} {
		assert.Check(t, f.ByName(c.Name) != nil, "%s removed", c.Name)
	}
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "a"))
	assert.Check(t, err, "the data of a went")
}

func TestRestartChecksAsAStartDoes(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	placed(t, f, "p", cfg, container.StateRunning)
	kid := placed(t, f, "p/k", cfg, container.StateRunning)
	ok := placed(t, f, "q", cfg, container.StateRunning)
	list, err := newManager(f).List(context.Background())
	assert.NilError(t, err)
	byName := map[string]sandbox.Workspace{}
	for _, w := range list {
		byName[w.Name] = w
	}
	local := func(o *Options) { o.Local = true }
	err = newManager(f, local).Restart(context.Background(), byName[kid.Name], sandbox.StopOptions{})
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.NilError(t, newManager(f, local).Restart(context.Background(), byName[ok.Name], sandbox.StopOptions{}))
	assert.Check(t, is.Contains(f.Calls(), "restart:gws-q"))
	assert.Check(t, !strings.Contains(f.Calls(), "restart:gws-p-k"))
}

func TestInspectTellsTheRecordedConfiguration(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	c := placed(t, f, "a", cfg, container.StateRunning)
	info, err := newManager(f).Inspect(context.Background(), sandbox.Workspace{ID: c.ID, Name: c.Name, Subdir: "a", Mode: sandbox.ModeBind})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(info.Subdir, "a"))
	got, err := json.Marshal(info.Config)
	assert.NilError(t, err)
	var want map[string]any
	assert.NilError(t, json.Unmarshal([]byte(sandbox.SpecFor("a", cfg, sandboxtest.ImageID).JSON()), &want))
	wantJSON, _ := json.Marshal(want)
	assert.Check(t, is.Equal(string(got), string(wantJSON)))
	assert.Check(t, is.Equal(info.Config["imageId"], sandboxtest.ImageID)) // a template reaches it: {{.Config.imageId}}
	assert.Check(t, is.Len(info.Mounts, 2))
	assert.Check(t, is.DeepEqual(info.Drift, []string{}))
}

func TestLoginShell(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Passwd = "root:x:0:0::/root:/bin/ash\nagent:x:1000:1000::/home/agent:/bin/bash\nnone:x:5:5::/:\n"
	m := newManager(f)
	ctx := context.Background()
	for user, want := range map[string]string{"agent": "/bin/bash", "1000:1000": "/bin/bash", "": "/bin/ash", "none": "sh", "nobody": "sh"} {
		c := f.Add("gws-"+strings.ReplaceAll(user, ":", "-"), container.StateRunning, container.Config{User: user}, container.HostConfig{})
		sh, err := m.LoginShell(ctx, sandbox.Location{ContainerID: c.ID}, "")
		assert.Check(t, err)
		assert.Check(t, is.Equal(sh, want), user)
	}
	sh, err := m.LoginShell(ctx, sandbox.Location{ContainerID: "gone"}, "")
	assert.Check(t, err)
	assert.Check(t, is.Equal(sh, "sh"))
	// Another user's (shell -u root, issue 22, 5).
	c := f.Add("gws-u", container.StateRunning, container.Config{User: "agent"}, container.HostConfig{})
	sh, err = m.LoginShell(ctx, sandbox.Location{ContainerID: c.ID}, "root")
	assert.Check(t, err)
	assert.Check(t, is.Equal(sh, "/bin/ash"))
	// An engine that does not answer: said, not guessed (the exec would
	// wait as long again).
	f.Hung = true
	_, err = newManager(f, func(o *Options) { o.Timeout = 50 * time.Millisecond }).LoginShell(ctx, sandbox.Location{ContainerID: "gone"}, "")
	assert.Check(t, sandbox.Unreachable(err), "%v", err)
}

func TestResolve(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	q := placed(t, f, "q", cfg, container.StateRunning)      // gws-q
	gq := placed(t, f, "gws-q", cfg, container.StateRunning) // gws-gws-q
	hexa := placed(t, f, "deadbeefcafe", cfg, container.StateRunning)
	plain := f.Add("plain-"+q.ID[:6], container.StateRunning, container.Config{}, container.HostConfig{}) // not a workspace's
	f.Add("gws-a-b", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "a b", sandbox.LabelMode: "bind"}},
		container.HostConfig{Mounts: sandbox.BindMounts(filepath.Join(cfg.WorkspaceRoot, "a b"), cfg.SharedDir, false)})
	m := newManager(f)
	for _, tc := range []struct {
		ref, container, err string
		named               bool
	}{
		{ref: "q", container: q.ID, named: false},
		{ref: "gws-gws-q", container: gq.ID, named: true},
		{ref: q.ID, container: q.ID, named: true},
		{ref: q.ID[:12], container: q.ID, named: true},
		{ref: "gws-q", err: `"gws-q" is ambiguous: it is the subdir of gws-gws-q and names gws-q`},
		{ref: "deadbeefcafe", container: hexa.ID},
		{ref: "nothing", container: ""},
		{ref: "gws-nothing", container: ""}, // the command says what that means
		{ref: plain.ID, err: "container plain-" + q.ID[:6] + " is not a workspace container"},
		{ref: "a-b", err: `belongs to workspace "a b", not "a-b"`},
	} {
		targets, err := m.Resolve(context.Background(), []string{tc.ref})
		assert.NilError(t, err)
		got := targets[0]
		if tc.err != "" {
			assert.Check(t, is.ErrorContains(got.Err, tc.err), tc.ref)
			assert.Check(t, got.Workspace == nil, tc.ref)
			continue
		}
		assert.Check(t, got.Err, tc.ref)
		if tc.container == "" {
			assert.Check(t, got.Workspace == nil, tc.ref)
			continue
		}
		if assert.Check(t, got.Workspace != nil, tc.ref) {
			assert.Check(t, is.Equal(got.Workspace.ID, tc.container), tc.ref)
		}
		assert.Check(t, is.Equal(got.Named, tc.named), tc.ref)
	}
}

// slowStops is an engine whose stops take a while, counting how many run
// at once.
type slowStops struct {
	*sandboxtest.Engine
	mu        sync.Mutex
	now, most int
}

func (s *slowStops) ContainerStop(ctx context.Context, id string, opts container.StopOptions) error {
	s.mu.Lock()
	s.now++
	s.most = max(s.most, s.now)
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return s.Engine.ContainerStop(ctx, id, opts)
}

// A pass decides on, and stops, many idle workspaces at once (issue 19: 60
// idle workspaces took 20 s one by one); one removed under it is left out,
// not an error that ends the reaper.
func TestReaperStopsInParallel(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	for i := range 40 {
		placed(t, f, fmt.Sprintf("w%02d", i), cfg, container.StateRunning)
	}
	gone := placed(t, f, "gone", cfg, container.StateRunning)
	f.OnStop = func(c *sandboxtest.Ctr, _ container.StopOptions) error {
		if c.ID == gone.ID {
			return sandboxtest.ErrNotFound // removed since the list
		}
		return nil
	}
	s := &slowStops{Engine: f}
	r := New(s, Options{}).NewReaper(sandbox.ReapOptions{IdleFor: time.Minute})
	t0 := time.Now()
	_, err := r.Pass(context.Background(), t0)
	assert.NilError(t, err)
	ds, err := r.Pass(context.Background(), t0.Add(2*time.Minute))
	assert.NilError(t, err)
	assert.Check(t, is.Len(ds, 40), "the gone one is no decision")
	for i, d := range ds {
		assert.Check(t, is.Equal(d.Action, "stopped"), d.Workspace.Subdir)
		assert.Check(t, is.Equal(d.Workspace.Subdir, fmt.Sprintf("w%02d", i)), "in the list's order")
	}
	assert.Check(t, s.most > 1, "stops one by one")
	assert.Check(t, s.most <= reapParallel)
}

// With Pause, an idle workspace is paused (processes frozen, memory
// kept), and the next ensure wakes it: the same container runs again
// (issue 19).
func TestReaperPauses(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	c := placed(t, f, "a", cfg, container.StateRunning)
	m := newManager(f)
	r := m.NewReaper(sandbox.ReapOptions{IdleFor: time.Minute, Pause: true})
	t0 := time.Now()
	_, err := r.Pass(context.Background(), t0)
	assert.NilError(t, err)
	ds, err := r.Pass(context.Background(), t0.Add(2*time.Minute))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ds, 1))
	assert.Check(t, is.Equal(ds[0].Action, "paused"))
	assert.Check(t, is.Equal(c.State, container.StatePaused))
	res, err := m.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, c.ID))
	assert.Check(t, is.Equal(c.State, container.StateRunning))
}
