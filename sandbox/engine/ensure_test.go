package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func bindConfig(t *testing.T) sandbox.Config {
	root := t.TempDir()
	return sandbox.Config{
		Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, Pull: sandbox.PullMissing, Init: true, CreateHostDirs: true,
		WorkspaceRoot: filepath.Join(root, "workspaces"), SharedDir: filepath.Join(root, "shared"),
	}
}

func volumeConfig() sandbox.Config {
	return sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeVolumeSubpath, Pull: sandbox.PullMissing, WorkspaceVolume: "ws", SharedVolume: "sh"}
}

// ours adds to f the container that Ensure(subdir, cfg) would have made
// (its labels), in a state, without mounts.
func ours(f *sandboxtest.Engine, subdir string, cfg sandbox.Config, state container.ContainerState) *sandboxtest.Ctr {
	s := sandbox.SpecFor(subdir, cfg, sandboxtest.ImageID)
	return f.Add(sandbox.ContainerName(subdir), state, container.Config{Image: cfg.Image, Labels: map[string]string{
		sandbox.LabelSubdir: subdir, sandbox.LabelMode: string(cfg.Mode), sandbox.LabelConfigHash: s.Hash(), sandbox.LabelConfig: s.JSON(),
	}}, container.HostConfig{})
}

// newManager is a Manager of f, with the caller's options.
func newManager(f *sandboxtest.Engine, opts ...func(*Options)) *Manager {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	return New(f, o)
}

// placed adds to f the container that Ensure(subdir, cfg) would have made,
// in a state, with its workspace directory (bind mode, local).
func placed(t *testing.T, f *sandboxtest.Engine, subdir string, cfg sandbox.Config, state container.ContainerState) *sandboxtest.Ctr {
	t.Helper()
	s := sandbox.SpecFor(subdir, cfg, sandboxtest.ImageID)
	labels := map[string]string{sandbox.LabelSubdir: subdir, sandbox.LabelMode: string(cfg.Mode), sandbox.LabelConfigHash: s.Hash(), sandbox.LabelConfig: s.JSON()}
	var mounts []mount.Mount
	if cfg.Mode == sandbox.ModeBind {
		assert.NilError(t, os.MkdirAll(filepath.Join(cfg.WorkspaceRoot, subdir), 0o755))
		assert.NilError(t, os.MkdirAll(cfg.SharedDir, 0o755))
		root, err := filepath.EvalSymlinks(cfg.WorkspaceRoot)
		assert.NilError(t, err)
		mounts = sandbox.BindMounts(filepath.Join(root, subdir), cfg.SharedDir, false)
	} else {
		mounts = []mount.Mount{
			{Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: sandbox.WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: subdir, NoCopy: true}},
			{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: sandbox.SharedTarget},
		}
	}
	return f.Add(sandbox.ContainerName(subdir), state, container.Config{Image: cfg.Image, Labels: labels}, container.HostConfig{Mounts: mounts})
}

// withoutCall is calls without the one call call (made concurrently with
// others, so in no fixed place), and whether it was there.
func withoutCall(calls, call string) (string, bool) {
	fields := strings.Fields(calls)
	for i, f := range fields {
		if f == call {
			return strings.Join(append(fields[:i:i], fields[i+1:]...), " "), true
		}
	}
	return calls, false
}

const coldBind = "image:agent/workspace:latest network:gws.open netcreate:gws.open create:gws_new list copyfrom:gws_new:/etc/passwd rename:gws_new->%s start:%s"

func cold(name string) string { return fmt.Sprintf(coldBind, name, name) }

func TestEnsureStates(t *testing.T) {
	for _, tc := range []struct {
		state  container.ContainerState // "" : no container
		action sandbox.Action
		calls  string
	}{
		{state: container.StateRunning, action: sandbox.ActionRunning, calls: "inspect:gws-alice"},
		{state: container.StateExited, action: sandbox.ActionStarted, calls: "inspect:gws-alice list start:gws-alice"},
		{state: container.StateCreated, action: sandbox.ActionStarted, calls: "inspect:gws-alice list start:gws-alice"},
		{state: container.StatePaused, action: sandbox.ActionUnpaused, calls: "inspect:gws-alice unpause:gws-alice"},
		{state: container.StateRemoving, action: sandbox.ActionCreated, calls: "inspect:gws-alice wait:gws-alice inspect:gws-alice " + cold("gws-alice")},
		{state: "", action: sandbox.ActionCreated, calls: "inspect:gws-alice " + cold("gws-alice")},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			cfg := bindConfig(t)
			f := sandboxtest.NewEngine()
			if tc.state != "" {
				placed(t, f, "alice", cfg, tc.state)
			}
			f.CallLog = nil
			res, err := newManager(f).Ensure(context.Background(), "alice", cfg)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(res.Action, tc.action))
			assert.Check(t, is.Equal(res.Name, "gws-alice"))
			assert.Check(t, is.Len(res.Drift, 0))
			assert.Check(t, is.Equal(f.Calls(), tc.calls))
			assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-alice:running"}))
		})
	}
}

func TestEnsureWaitsWhileRestarting(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	c := placed(t, f, "a", cfg, container.StateRestarting)
	n := 0
	f.OnInspect = func(*sandboxtest.Ctr) {
		if n++; n == 3 {
			c.State = container.StateRunning
		}
	}
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a inspect:gws-a inspect:gws-a"))
}

func TestEnsureCreatesBind(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	f.AddNetwork("gw-net", nil)
	agent := os.Getuid()
	if os.Geteuid() == 0 {
		agent = 1000 // as root, the workspace really goes to another user
	}
	f.Passwd = fmt.Sprintf("root:x:0:0::/root:/bin/sh\nagent:x:%d:%d::/home/agent:/bin/sh\n", agent, agent)
	cfg.Network = "gw-net"
	sharedParent := filepath.Dir(cfg.SharedDir)
	cfg.SharedDir = filepath.Join(sharedParent, "x", "y", "shared") // its parents are missing too
	cfg.NanoCPUs, cfg.Memory, cfg.PidsLimit = 1_500_000_000, 256<<20, 100
	cfg.ReadOnly = true
	cfg.CapDrop, cfg.CapAdd = []string{"ALL"}, []string{"CHOWN"}
	cfg.SecurityOpt = []string{"no-new-privileges"}
	cfg.Labels = map[string]string{"team": "blue"}
	cfg.Env = []string{"A=1"}
	m := newManager(f, func(o *Options) { o.Version = "v9" })
	res, err := m.Ensure(context.Background(), "team/alice", cfg)
	assert.NilError(t, err)
	c := f.ByName("gws-team-alice")
	assert.Assert(t, c != nil)
	assert.Check(t, is.DeepEqual(res, sandbox.Result{ID: c.ID, Name: "gws-team-alice", Subdir: "team/alice", Action: sandbox.ActionCreated, Mode: sandbox.ModeBind, Image: sandbox.DefaultImage}))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-team-alice image:agent/workspace:latest network:gw-net create:gws_new list "+
		"copyfrom:gws_new:/etc/passwd rename:gws_new->gws-team-alice start:gws-team-alice"))

	assert.Check(t, is.DeepEqual([]string(c.Cfg.Entrypoint), []string{"sleep", "infinity"}))
	assert.Check(t, is.DeepEqual(c.Cfg.Env, []string{"A=1"}))
	s := sandbox.SpecFor("team/alice", cfg, sandboxtest.ImageID)
	assert.Check(t, is.DeepEqual(c.Cfg.Labels, map[string]string{
		sandbox.LabelSubdir: "team/alice", sandbox.LabelMode: "bind", sandbox.LabelVersion: "v9", "team": "blue",
		sandbox.LabelConfigHash: s.Hash(), sandbox.LabelConfig: s.JSON(), sandbox.LabelCreator: thisProcess(),
	}))
	assert.Check(t, !strings.Contains(c.Cfg.Labels[sandbox.LabelConfig], "A=1"), "an env value is in a label")
	assert.Check(t, is.Equal(string(c.HC.NetworkMode), "gw-net"))
	assert.Check(t, c.HC.Init != nil && *c.HC.Init)
	assert.Check(t, c.HC.PidsLimit != nil && *c.HC.PidsLimit == 100)
	assert.Check(t, c.HC.ReadonlyRootfs)
	assert.Check(t, is.DeepEqual(c.HC.Tmpfs, map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"}))
	realRoot, err := filepath.EvalSymlinks(cfg.WorkspaceRoot)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(c.HC.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(realRoot, "team", "alice"), Target: sandbox.WorkspaceTarget},
		{Type: mount.TypeBind, Source: cfg.SharedDir, Target: sandbox.SharedTarget},
	}))
	// Only the workspace's own directory and the shared directory go to the
	// container's user; the parent stays the caller's, and nobody else may
	// write it.
	for dir, want := range map[string]int{
		filepath.Join(cfg.WorkspaceRoot, "team", "alice"): agent,
		cfg.SharedDir:                            agent,
		filepath.Join(cfg.WorkspaceRoot, "team"): os.Geteuid(),
		cfg.WorkspaceRoot:                        os.Geteuid(),
		filepath.Join(sharedParent, "x"):         os.Geteuid(),
		filepath.Join(sharedParent, "x", "y"):    os.Geteuid(),
	} {
		fi, err := os.Stat(dir)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(int(fi.Sys().(*syscall.Stat_t).Uid), want), dir)
		perm := os.FileMode(0o755)
		if dir == cfg.WorkspaceRoot || dir == cfg.SharedDir {
			// No local user reaches a workspace through the root, nor the
			// shared directory (a tenant could leave a setuid program in
			// either).
			perm = 0o700
		}
		assert.Check(t, is.Equal(fi.Mode().Perm(), perm), dir)
	}
	b, err := os.ReadFile(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir, claims.RegistryWorkspaces, recordName("team/alice")))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "team/alice"))
}

func recordName(subdir string) string {
	name, _ := claims.RecordFor(subdir)
	return name
}

func TestEnsureResolvesNamedUserThroughTheNewContainer(t *testing.T) {
	cfg := bindConfig(t)
	cfg.User = "nobody-here"
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "b", cfg)
	assert.Check(t, is.ErrorContains(err, `user "nobody-here": not found in the image's /etc/passwd`))
	assert.Check(t, is.Len(f.Names(), 0), "a container was left behind")
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "b"))
	assert.Check(t, os.IsNotExist(err), "the workspace directory was left behind")

	// A numeric user needs no /etc/passwd.
	cfg.User = "1234:1234"
	f = sandboxtest.NewEngine()
	f.Passwd = ""
	_, err = newManager(f).Ensure(context.Background(), "b", cfg)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(f.Calls(), "copyfrom"))
}

// Nested workspaces are refused both ways, from the registry (a workspace
// whose container was removed still counts) and from the containers.
func TestEnsureRefusesOverlap(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	m := newManager(f)
	ctx := context.Background()
	_, err := m.Ensure(ctx, "team/bob", cfg)
	assert.NilError(t, err)
	_, err = m.Ensure(ctx, "team/carol", cfg)
	assert.NilError(t, err, "nesting below a plain directory is fine")
	f.Mu.Lock()
	for id, c := range f.Ctrs { // rm: the data and its record stay
		if c.Name == "gws-team-bob" {
			delete(f.Ctrs, id)
		}
	}
	f.Mu.Unlock()
	before := f.Names()
	for subdir, other := range map[string]string{"team": `workspace "team/bob"`, "team/bob/src": `workspace "team/bob"`, "team/carol/x": `workspace "team/carol"`} {
		f.CallLog = nil
		_, err := m.Ensure(ctx, subdir, cfg)
		assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap), subdir)
		assert.Check(t, is.ErrorContains(err, fmt.Sprintf("workspace %q overlaps %s", subdir, other)))
		assert.Check(t, is.ErrorContains(err, "nothing was changed"))
		assert.Check(t, !strings.Contains(f.Calls(), "create:"), "%s: %s", subdir, f.Calls())
	}
	assert.Check(t, is.DeepEqual(f.Names(), before))
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "team", "bob", "src"))
	assert.Check(t, os.IsNotExist(err))
}

// A container made before overlaps were refused, without a record: the new
// workspace sees it after its own container exists, gives up, and removes
// what it made.
func TestEnsureOverlapWithOlderContainer(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	placed(t, f, "p", cfg, container.StateRunning)
	_, err := newManager(f).Ensure(context.Background(), "p2/k", cfg)
	assert.NilError(t, err, "no overlap")
	_, err = newManager(f).Ensure(context.Background(), "p/k", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `workspace "p/k" overlaps workspace "p" (container gws-p)`))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-p2-k:running", "gws-p:running"}))
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "p", "k"))
	assert.Check(t, os.IsNotExist(err), "the refused workspace's directory stayed")
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir, claims.RegistryWorkspaces, recordName("p/k")))
	assert.Check(t, os.IsNotExist(err), "the refused workspace was recorded")
}

// Two overlapping workspaces created at once: the one whose container the
// engine created first wins, whichever looks first.
func TestEnsureOverlapRace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		otherFirst bool
	}{{"the other was created first", true}, {"this one was created first", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bindConfig(t)
			f := sandboxtest.NewEngine()
			f.OnList = func() {
				f.OnList = nil
				f.Mu.Lock()
				defer f.Mu.Unlock()
				var mine *sandboxtest.Ctr
				for _, c := range f.Ctrs {
					mine = c
				}
				s := sandbox.SpecFor("team", cfg, sandboxtest.ImageID)
				root, _ := filepath.EvalSymlinks(cfg.WorkspaceRoot)
				other := f.AddLocked(tempName(tempPrefix), container.StateCreated, container.Config{Image: sandbox.DefaultImage, Labels: map[string]string{
					sandbox.LabelSubdir: "team", sandbox.LabelMode: "bind", sandbox.LabelConfigHash: s.Hash(), sandbox.LabelCreator: thisProcess(),
				}}, container.HostConfig{Mounts: sandbox.BindMounts(filepath.Join(root, "team"), cfg.SharedDir, false)})
				mine.Created = mine.Created.Add(500 * time.Millisecond)
				if tc.otherFirst {
					other.Created = mine.Created.Add(-time.Nanosecond)
				} else {
					other.Created = mine.Created.Add(time.Nanosecond)
				}
			}
			_, err := newManager(f).Ensure(context.Background(), "team/bob", cfg)
			if tc.otherFirst {
				assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
				assert.Check(t, is.ErrorContains(err, `overlaps workspace "team" (container gws_new_`))
				assert.Check(t, is.DeepEqual(f.Names(), []string{"gws_new:created"}), "only the other's container is left")
			} else {
				assert.NilError(t, err)
				assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-team-bob:running", "gws_new:created"}))
			}
			// Same second in the list: the exact creation times decide.
			_, afterList, _ := strings.Cut(f.Calls(), " list ")
			assert.Check(t, strings.Contains(afterList, "inspect:gws_new"), f.Calls())
		})
	}
}

// Another caller's container takes the name first: it is used, and what
// both need (the directories) is not undone.
func TestEnsureNameRaceUsesWinner(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	var winner *sandboxtest.Ctr
	f.OnRename = func(c *sandboxtest.Ctr, name string) error {
		f.OnRename = nil
		s := sandbox.SpecFor("a", cfg, sandboxtest.ImageID)
		winner = f.AddLocked(name, container.StateRunning, container.Config{Image: sandbox.DefaultImage, Labels: map[string]string{
			sandbox.LabelSubdir: "a", sandbox.LabelMode: "bind", sandbox.LabelConfigHash: s.Hash(), sandbox.LabelConfig: s.JSON(),
		}}, c.HC)
		return nil
	}
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, winner.ID))
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "a"))
	assert.Check(t, err, "the winner's directory was removed")
}

// A failure gives the engine's words at once and removes what this call
// made: the container, the directories, the record.
func TestEnsureFailureRemovesWhatItMade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*sandboxtest.Engine, *sandbox.Config)
		err   string
	}{
		{name: "missing network", setup: func(_ *sandboxtest.Engine, c *sandbox.Config) { c.Network = "nope" },
			err: "network nope: network nope not found"},
		{name: "a capability the engine does not know", setup: func(f *sandboxtest.Engine, c *sandbox.Config) {
			c.CapAdd = []string{"CHECKPOINT_RESTORE"}
			f.OnCreate = func(string, *container.Config, *container.HostConfig) error {
				return cerrdefs.ErrInvalidArgument.WithMessage(`invalid CapAdd: unknown capability: "CAP_CHECKPOINT_RESTORE"`)
			}
		}, err: `create container gws-team-a: invalid CapAdd: unknown capability: "CAP_CHECKPOINT_RESTORE"`},
		{name: "start fails while the container exists", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.OnStart = func(*sandboxtest.Ctr) error {
				return cerrdefs.ErrNotFound.WithMessage("failed to set up container networking: network gone not found")
			}
		}, err: "start container gws-team-a: failed to set up container networking: network gone not found"},
		{name: "missing image", setup: func(f *sandboxtest.Engine, c *sandbox.Config) { c.Image = "nowhere/x" },
			err: "pull image nowhere/x: no registry here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bindConfig(t)
			f := sandboxtest.NewEngine()
			tc.setup(f, &cfg)
			start := time.Now()
			_, err := newManager(f).Ensure(context.Background(), "team/a", cfg)
			assert.Check(t, is.ErrorContains(err, tc.err))
			// A value the engine refuses is the configuration's (125).
			assert.Check(t, is.Equal(errors.Is(err, sandbox.ErrInvalidConfig), cerrdefs.IsInvalidArgument(err)), "%v", err)
			assert.Check(t, time.Since(start) < 10*time.Second, "took %s: retried", time.Since(start))
			assert.Check(t, is.Len(f.Names(), 0), "containers left: %v", f.Names())
			_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "team", "a"))
			assert.Check(t, os.IsNotExist(err), "the workspace's directory was left")
			entries, _ := os.ReadDir(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir, claims.RegistryWorkspaces))
			assert.Check(t, is.Len(entries, 0), "a record was left")
		})
	}
}

// A replacement is made and checked first; a failure leaves the old
// container running, under its name.
func TestEnsureReplaceWithoutGap(t *testing.T) {
	setup := func(t *testing.T) (*sandboxtest.Engine, sandbox.Config, *sandboxtest.Ctr) {
		cfg := bindConfig(t)
		f := sandboxtest.NewEngine()
		old := placed(t, f, "a", cfg, container.StateRunning)
		old.Cfg.Volumes = map[string]struct{}{"/data": {}}
		old.HC.Mounts = append(old.HC.Mounts, mount.Mount{Type: mount.TypeVolume, Source: "0123anon", Target: "/data"})
		cfg.Recreate = sandbox.RecreateIfChanged
		f.CallLog = nil
		return f, cfg, old
	}
	t.Run("a typo in the user", func(t *testing.T) {
		f, cfg, old := setup(t)
		cfg.User = "agnet"
		_, err := newManager(f).Ensure(context.Background(), "a", cfg)
		assert.Check(t, is.ErrorContains(err, `user "agnet": not found in the image's /etc/passwd`))
		assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
		assert.Check(t, f.ByName("gws-a") == old)
		assert.Check(t, !strings.Contains(f.Calls(), "stop:"), f.Calls())
	})
	t.Run("the replacement does not start", func(t *testing.T) {
		f, cfg, old := setup(t)
		cfg.Memory = 1 << 30
		f.OnStart = func(c *sandboxtest.Ctr) error {
			if c != old {
				return errors.New("OCI runtime create failed: out of luck")
			}
			return nil
		}
		_, err := newManager(f).Ensure(context.Background(), "a", cfg)
		assert.Check(t, is.ErrorContains(err, "start container gws-a: OCI runtime create failed: out of luck"))
		assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
		assert.Check(t, f.ByName("gws-a") == old, "the old container is not back under its name")
	})
	// Ctrl-C while a rename is under way: the engine does it, the call
	// gets its context's error. The old container is found where it is
	// and given its name back, running.
	for _, which := range []string{"the old one's", "the new one's"} {
		t.Run("an interrupted rename that landed: "+which, func(t *testing.T) {
			f, cfg, old := setup(t)
			cfg.Memory = 1 << 30
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.OnRename = func(c *sandboxtest.Ctr, newName string) error {
				asideOld := which == "the old one's" && c == old && newName != "gws-a"
				nameNew := which == "the new one's" && c != old && newName == "gws-a"
				if asideOld || nameNew {
					f.OnRename = nil
					c.Name = newName
					cancel()
					return context.Canceled
				}
				return nil
			}
			_, err := newManager(f).Ensure(ctx, "a", cfg)
			assert.Check(t, is.ErrorIs(err, context.Canceled))
			assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
			assert.Check(t, f.ByName("gws-a") == old, "the old container is not back under its name: %s", f.Calls())
		})
	}
	t.Run("replaced", func(t *testing.T) {
		f, cfg, old := setup(t)
		cfg.Memory = 1 << 30
		res, err := newManager(f).Ensure(context.Background(), "a", cfg)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
		assert.Check(t, res.ID != old.ID)
		assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
		assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a image:agent/workspace:latest network:gws.open netcreate:gws.open create:gws_new list copyfrom:gws_new:/etc/passwd "+
			"stop:gws-a rename:gws-a->gws_old rename:gws_new->gws-a start:gws-a remove:gws_old"))
		// The old container's anonymous volume lives on in the new one.
		assert.Check(t, is.Contains(f.ByName("gws-a").HC.Mounts, mount.Mount{Type: mount.TypeVolume, Source: "0123anon", Target: "/data"}))
	})
}

func TestEnsureDead(t *testing.T) {
	defer func(d time.Duration) { deadWait = d }(deadWait)
	deadWait = 50 * time.Millisecond
	for _, tc := range []struct {
		name  string
		gone  bool
		calls string
	}{
		{name: "being removed", gone: true, calls: "inspect:gws-a wait:gws-a inspect:gws-a " + cold("gws-a")},
		{name: "stuck", gone: false, calls: "inspect:gws-a wait:gws-a remove:gws-a inspect:gws-a " + cold("gws-a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bindConfig(t)
			f := sandboxtest.NewEngine()
			placed(t, f, "a", cfg, container.StateDead)
			f.OnWait = func(*sandboxtest.Ctr) bool { return tc.gone }
			f.CallLog = nil
			res, err := newManager(f).Ensure(context.Background(), "a", cfg)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
			assert.Check(t, is.Equal(f.Calls(), tc.calls))
			assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
		})
	}
}

// `rm -f` runs while ensure starts the container: ensure waits for the
// removal and creates the container again.
func TestEnsureRaceWithRemoval(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	c := placed(t, f, "a", cfg, container.StateExited)
	f.OnStart = func(s *sandboxtest.Ctr) error {
		if s == c {
			c.State = container.StateRemoving
			return cerrdefs.ErrConflict.WithMessage("container is marked for removal and cannot be started")
		}
		return nil
	}
	f.CallLog = nil
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a list start:gws-a inspect:gws-a inspect:gws-a wait:gws-a inspect:gws-a "+cold("gws-a")))
}

func TestEnsureTaskExistsHint(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	placed(t, f, "a", cfg, container.StateExited)
	f.OnStart = func(*sandboxtest.Ctr) error {
		return errors.New("failed to create task for container: task 0123: already exists: unknown")
	}
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "task 0123: already exists"))
	assert.Check(t, is.ErrorIs(err, sandbox.ErrStaleTask))
}

// A symlink below the root is never followed: not when a workspace is
// made, and not when a stopped one is started again.
func TestEnsureRefusesSymlinks(t *testing.T) {
	cfg := bindConfig(t)
	outside := t.TempDir()
	assert.NilError(t, os.MkdirAll(filepath.Join(cfg.WorkspaceRoot, "d"), 0o755))
	assert.NilError(t, os.Symlink(outside, filepath.Join(cfg.WorkspaceRoot, "evil")))
	assert.NilError(t, os.Symlink("../evil", filepath.Join(cfg.WorkspaceRoot, "d", "link")))
	f := sandboxtest.NewEngine()
	for _, subdir := range []string{"evil", "evil/x", "d/link", "d/link/y"} {
		_, err := newManager(f).Ensure(context.Background(), subdir, cfg)
		assert.Check(t, is.ErrorIs(err, hostfs.ErrSymlink), subdir)
		assert.Check(t, is.ErrorContains(err, "is a symlink"), subdir)
	}
	assert.Check(t, is.Len(f.Names(), 0))
	entries, err := os.ReadDir(outside)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0), "something was made outside the root")

	// A stopped workspace whose directory became a symlink is not started.
	placed(t, f, "kid", cfg, container.StateExited)
	dir := filepath.Join(cfg.WorkspaceRoot, "kid")
	assert.NilError(t, os.Rename(dir, dir+".old"))
	assert.NilError(t, os.Symlink("/", dir))
	_, err = newManager(f).Ensure(context.Background(), "kid", cfg)
	assert.Check(t, is.ErrorIs(err, hostfs.ErrSymlink))
	assert.Check(t, is.ErrorContains(err, "refusing to start gws-kid"))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-kid:exited"}))
}

// An overlapping pair made before overlaps were refused: neither starts.
func TestEnsureRefusesToStartAnOverlappingPair(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	placed(t, f, "p", cfg, container.StateExited)
	placed(t, f, "p/k", cfg, container.StateExited)
	for _, tc := range []struct{ subdir, other string }{{"p", `workspace "p/k" (container gws-p-k)`}, {"p/k", `workspace "p" (container gws-p)`}} {
		_, err := newManager(f).Ensure(context.Background(), tc.subdir, cfg)
		assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
		assert.Check(t, is.ErrorContains(err, "overlaps "+tc.other))
	}
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-p-k:exited", "gws-p:exited"}))
}

// Whoever can write a directory on a workspace's path can redirect the
// engine's mount: such a root is refused.
func TestEnsureRefusesUnsafeRoot(t *testing.T) {
	cfg := bindConfig(t)
	assert.NilError(t, os.MkdirAll(cfg.WorkspaceRoot, 0o755))
	assert.NilError(t, os.Chmod(cfg.WorkspaceRoot, 0o777))
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "is writable by its group or by others (mode 0777)"))
	assert.Check(t, is.Len(f.Names(), 0))
	if os.Geteuid() == 0 {
		assert.NilError(t, os.Chmod(cfg.WorkspaceRoot, 0o755))
		assert.NilError(t, os.Chown(cfg.WorkspaceRoot, 1000, 1000))
		_, err = newManager(f).Ensure(context.Background(), "a", cfg)
		assert.Check(t, is.ErrorContains(err, "is owned by uid 1000"))
		// A parent that the container user owns (an old version gave it away).
		assert.NilError(t, os.Chown(cfg.WorkspaceRoot, 0, 0))
		assert.NilError(t, os.MkdirAll(filepath.Join(cfg.WorkspaceRoot, "team"), 0o755))
		assert.NilError(t, os.Chown(filepath.Join(cfg.WorkspaceRoot, "team"), 1000, 1000))
		_, err = newManager(f).Ensure(context.Background(), "team/a", cfg)
		assert.Check(t, is.ErrorContains(err, "team is owned by uid 1000"))
		assert.Check(t, is.Len(f.Names(), 0))
	}
}

func TestEnsureRefusesSharedDirOverlappingTheRoot(t *testing.T) {
	cfg := bindConfig(t)
	for _, shared := range []string{cfg.WorkspaceRoot, filepath.Join(cfg.WorkspaceRoot, "shared"), filepath.Dir(cfg.WorkspaceRoot)} {
		c := cfg
		c.SharedDir = shared
		_, err := newManager(sandboxtest.NewEngine()).Ensure(context.Background(), "a", c)
		assert.Check(t, is.ErrorContains(err, "overlaps the workspace root"), shared)
	}
	// Through a symlink.
	link := filepath.Join(t.TempDir(), "link")
	assert.NilError(t, os.MkdirAll(cfg.WorkspaceRoot, 0o755))
	assert.NilError(t, os.Symlink(cfg.WorkspaceRoot, link))
	cfg.SharedDir = link
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "overlaps the workspace root"))
	assert.Check(t, is.Len(f.Names(), 0))

	v := volumeConfig()
	v.SharedVolume = v.WorkspaceVolume
	_, err = newManager(sandboxtest.NewEngine()).Ensure(context.Background(), "a", v)
	assert.Check(t, is.ErrorContains(err, "is the workspace volume"))
}

func TestEnsureCreatesVolumeSubpath(t *testing.T) {
	f := sandboxtest.NewEngine()
	img := f.Images[sandbox.DefaultImage]
	img.Config.Volumes = map[string]struct{}{"/var/cache": {}}
	f.Images[sandbox.DefaultImage] = img
	f.FS["ws"] = sandboxtest.NewMemFS()
	f.FS["ws"].Entries["team"] = &sandboxtest.MemEntry{Dir: true, UID: 0}
	var helperHC *container.HostConfig
	var helperLabels map[string]string
	f.OnCreate = func(name string, cfg *container.Config, hc *container.HostConfig) error {
		if strings.HasPrefix(name, helperPrefix) {
			helperHC, helperLabels = hc, cfg.Labels
		}
		return nil
	}
	cfg := volumeConfig()
	res, err := newManager(f).Ensure(context.Background(), "team/alice/src", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	// The image's user is resolved (through the helper) while the
	// workspace is checked and recorded.
	calls, resolved := withoutCall(f.Calls(), "copyfrom:gws_helper:/etc/passwd")
	assert.Check(t, resolved, f.Calls())
	assert.Check(t, is.Equal(calls, "inspect:gws-team-alice-src image:agent/workspace:latest network:gws.open netcreate:gws.open create:gws_helper create:gws_new list "+
		"stat:/shared-volume/.docker-workspace copyfrom:gws_helper:/workspaces/.docker-workspace "+
		"stat:/workspaces/team stat:/workspaces/team/.docker-workspace stat:/workspaces/team/alice copyto:gws_helper:/workspaces remove:gws_helper "+
		"rename:gws_new->gws-team-alice-src start:gws-team-alice-src"))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-team-alice-src:running"}), "the helper was left behind")
	// The helper: no network, the whole volume without copying the image
	// into it, the image's VOLUME shadowed (no anonymous volume), labelled.
	assert.Check(t, is.Equal(string(helperHC.NetworkMode), "none"))
	assert.Check(t, is.DeepEqual(helperHC.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "ws", Target: sandbox.HelperVolumePoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeVolume, Source: "sh", Target: sandbox.HelperSharedPoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeTmpfs, Target: "/var/cache"},
	}))
	assert.Check(t, is.Equal(helperLabels[sandbox.LabelHelper], "prepare"))
	assert.Check(t, is.Equal(helperLabels[sandbox.LabelCreator], thisProcess()))
	// The missing directories: the parent root's, the workspace's own the
	// container user's; an existing one is left as it is; the record.
	ws := f.FS["ws"].Entries
	assert.Check(t, is.Equal(ws["team/alice"].UID, 0))
	assert.Check(t, is.Equal(ws["team/alice/src"].UID, os.Getuid()))
	assert.Check(t, ws["team/alice/src"].Dir)
	assert.Check(t, is.Equal(ws[".docker-workspace/workspaces/"+recordName("team/alice/src")].Data, "team/alice/src"))
	assert.Check(t, is.DeepEqual(f.ByName("gws-team-alice-src").HC.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "ws", Target: sandbox.WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "team/alice/src", NoCopy: true}},
		{Type: mount.TypeVolume, Source: "sh", Target: sandbox.SharedTarget},
	}))

	// Recorded: an overlapping workspace is refused in the volume too.
	_, err = newManager(f).Ensure(context.Background(), "team/alice", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `overlaps workspace "team/alice/src"`))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-team-alice-src:running"}))
}

// A refused ensure leaves no root behind (issue 17, 8): the marker it made
// would refuse every root below it. One refused by its shared directory,
// one refused by the check against the containers (a workspace of a root
// below it runs), and one that the image fails.
func TestEnsureRefusedLeavesNoRoot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, *sandboxtest.Engine, *sandbox.Config)
		err   string
	}{
		{name: "shared directory", err: "can be written by others", setup: func(t *testing.T, _ *sandboxtest.Engine, cfg *sandbox.Config) {
			open := filepath.Join(t.TempDir(), "open")
			assert.NilError(t, os.Mkdir(open, 0o777))
			assert.NilError(t, os.Chmod(open, 0o777))
			cfg.SharedDir = filepath.Join(open, "shared")
		}},
		{name: "a running root below", err: "roots must not nest", setup: func(t *testing.T, f *sandboxtest.Engine, cfg *sandbox.Config) {
			inner := *cfg
			inner.WorkspaceRoot = filepath.Join(cfg.WorkspaceRoot, "inner")
			placed(t, f, "a", inner, container.StateRunning)
		}},
		{name: "a user the image lacks", err: `user "nobody-here": not found`, setup: func(_ *testing.T, _ *sandboxtest.Engine, cfg *sandbox.Config) {
			cfg.User = "nobody-here"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bindConfig(t)
			f := sandboxtest.NewEngine()
			tc.setup(t, f, &cfg)
			_, existed := os.Lstat(cfg.WorkspaceRoot)
			_, err := newManager(f).Ensure(context.Background(), "y", cfg)
			assert.Check(t, is.ErrorContains(err, tc.err))
			_, err = os.Lstat(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir))
			assert.Check(t, os.IsNotExist(err), "the refused root keeps its marker")
			if existed != nil {
				_, err = os.Lstat(cfg.WorkspaceRoot)
				assert.Check(t, os.IsNotExist(err), "the refused root stays")
			}
		})
	}
}

// A workspace that a Swarm runs from a volume of a node is recorded as a
// task's: the node's engine makes no container of its own for it (or for
// one it nests with) while it is a node, even when the service has no task
// (issue 17, 9).
func TestEnsureLeavesASwarmsWorkspaceAlone(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.NodeID = "n1"
	f.FS["ws"] = sandboxtest.NewMemFS()
	_, err := newManager(f).PrepareForTask(context.Background(), "x", volumeConfig())
	assert.NilError(t, err)
	name, _ := claims.RecordFor("x")
	assert.Check(t, is.Equal(f.FS["ws"].Entries[claims.TasksPath+"/"+name].Data, "x"))
	assert.Check(t, is.Len(f.Names(), 0), "left behind: %v", f.Names())

	_, err = newManager(f).Ensure(context.Background(), "x", volumeConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOrchestrated))
	assert.Check(t, is.ErrorContains(err, `a Swarm runs workspace "x" from volume ws on this node`))
	_, err = newManager(f).Ensure(context.Background(), "x/y", volumeConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	_, err = newManager(f).Ensure(context.Background(), "z", volumeConfig())
	assert.Check(t, err)
	// The node left the Swarm: its engine's workspace.
	f.NodeID = ""
	_, err = newManager(f).Ensure(context.Background(), "x", volumeConfig())
	assert.Check(t, err)
}

// A registry says what holds its workspaces: a volume whose directory is
// a bind root (its device option names the root itself) does not take that
// root's workspaces for its own, nor a bind root a volume's (attack on
// issue 17: B2).
func TestEnsureRegistryKinds(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.FS["ws"] = sandboxtest.NewMemFS()
	f.FS["ws"].Entries[sandbox.RegistryDir] = &sandboxtest.MemEntry{Dir: true, Mode: 0o700}
	f.FS["ws"].Entries[sandbox.RegistryDir+"/kind"] = &sandboxtest.MemEntry{Data: "bind"}
	_, err := newManager(f).Ensure(context.Background(), "w1", volumeConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, "volume ws is a workspace root of bind mode (another configuration's)"))
	assert.Check(t, is.Len(f.Names(), 0))

	f.FS["ws"] = sandboxtest.NewMemFS()
	_, err = newManager(f).Ensure(context.Background(), "w1", volumeConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.FS["ws"].Entries[sandbox.RegistryDir+"/kind"].Data, "volume"))

	cfg := bindConfig(t)
	_, err = newManager(sandboxtest.NewEngine()).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	kind, err := os.ReadFile(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir, "kind"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(kind), "bind"))

	other := bindConfig(t)
	assert.NilError(t, os.MkdirAll(filepath.Join(other.WorkspaceRoot, sandbox.RegistryDir), 0o700))
	assert.NilError(t, os.WriteFile(filepath.Join(other.WorkspaceRoot, sandbox.RegistryDir, "kind"), []byte("volume"), 0o644))
	_, err = newManager(sandboxtest.NewEngine()).Ensure(context.Background(), "a", other)
	assert.Check(t, is.ErrorContains(err, "is the directory of a workspace volume (another configuration's)"))
}

// A volume whose directory holds another configuration's root (a bind
// volume's device above it): a workspace through that root is refused,
// even when only its record is left (issue 17, 2).
func TestEnsureVolumeRefusesAnotherRootOnTheWay(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.FS["ws"] = sandboxtest.NewMemFS()
	f.FS["ws"].Entries["root"] = &sandboxtest.MemEntry{Dir: true}
	f.FS["ws"].Entries["root/"+sandbox.RegistryDir] = &sandboxtest.MemEntry{Dir: true}
	_, err := newManager(f).Ensure(context.Background(), "root/ev", volumeConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, "root in volume ws holds .docker-workspace: it is the root of other workspaces"))
	assert.Check(t, is.Len(f.Names(), 0), "left behind: %v", f.Names())
	_, made := f.FS["ws"].Entries["root/ev"]
	assert.Check(t, !made, "the workspace's directory was made")
}

func TestEnsureVolumeRefusesSymlinks(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.FS["ws"] = sandboxtest.NewMemFS()
	f.FS["ws"].Entries["victim"] = &sandboxtest.MemEntry{Dir: true}
	f.FS["ws"].Entries["kid"] = &sandboxtest.MemEntry{Link: "victim"}
	_, err := newManager(f).Ensure(context.Background(), "kid", volumeConfig())
	assert.Check(t, is.ErrorIs(err, hostfs.ErrSymlink))
	assert.Check(t, is.ErrorContains(err, "kid in volume ws is a symlink"))
	assert.Check(t, is.Len(f.Names(), 0), "left behind: %v", f.Names())
}

func TestEnsureRefusesSubpathOnOldEngine(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.APIVersion = "1.41"
	_, err := newManager(f).Ensure(context.Background(), "a", volumeConfig())
	assert.Check(t, is.ErrorContains(err, "needs Docker Engine API 1.45"))
	assert.Check(t, is.ErrorContains(err, "API 1.41"))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a"), "something was created")
}

// On a remote engine nothing is made on this machine: a helper makes the
// directories on the engine's host; the container binds them with
// CreateMountpoint, as it is created before they are made.
func TestEnsureRemoteBind(t *testing.T) {
	cfg := bindConfig(t)
	cfg.CreateHostDirs = false
	cfg.User = "1000:1000"
	f := sandboxtest.NewEngine()
	f.SetHost(filepath.Dir(cfg.SharedDir), &sandboxtest.MemEntry{Dir: true, Mode: 0o700}) // as t.TempDir's
	var helperMounts []mount.Mount
	f.OnCreate = func(name string, _ *container.Config, hc *container.HostConfig) error {
		if strings.HasPrefix(name, helperPrefix) {
			helperMounts = hc.Mounts
		}
		return nil
	}
	_, err := newManager(f).Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)
	host := func(rel string) *sandboxtest.MemEntry {
		e := f.HostEntry(filepath.Join(cfg.WorkspaceRoot, rel))
		assert.Assert(t, e != nil, "%s was not made", rel)
		return e
	}
	assert.Check(t, is.Equal(host("").UID, 0))
	assert.Check(t, is.Equal(host("").Mode, 0o700))
	assert.Check(t, is.Equal(host("team").UID, 0))
	assert.Check(t, is.Equal(host("team/a").UID, 1000))
	assert.Check(t, is.Equal(host(".docker-workspace/workspaces/"+recordName("team/a")).Data, "team/a"))
	assert.Check(t, is.Equal(f.HostEntry(cfg.SharedDir).UID, 1000))
	// The helper bound the top-level directory that holds both.
	top := "/" + strings.Split(cfg.WorkspaceRoot, "/")[1]
	for _, c := range f.Ctrs {
		assert.Check(t, !strings.HasPrefix(c.Name, helperPrefix), "the helper stays")
	}
	assert.Check(t, is.DeepEqual(helperMounts, []mount.Mount{
		{Type: mount.TypeBind, Source: top, Target: "/host" + top, BindOptions: &mount.BindOptions{CreateMountpoint: true}},
	}))
	create := &mount.BindOptions{CreateMountpoint: true}
	assert.Check(t, is.DeepEqual(f.ByName("gws-team-a").HC.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(cfg.WorkspaceRoot, "team", "a"), Target: sandbox.WorkspaceTarget, BindOptions: create},
		{Type: mount.TypeBind, Source: cfg.SharedDir, Target: sandbox.SharedTarget, BindOptions: create},
	}))
	_, err = os.Stat(cfg.WorkspaceRoot)
	assert.Check(t, os.IsNotExist(err), "a remote engine's path was created here")

	// An engine older than API 1.42 can neither make nor bind a missing
	// directory: no helper, the directories must exist.
	f = sandboxtest.NewEngine()
	f.APIVersion = "1.41"
	_, err = newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a image:agent/workspace:latest network:gws.open netcreate:gws.open create:gws_new list rename:gws_new->gws-a start:gws-a"))
}

// Two ensures that make one root (or one parent) at once: the engine's
// mkdir of the one that comes second fails with EEXIST, and the archive is
// extracted again; an error that stays is reported.
func TestEnsureRemoteBindMadeAtOnce(t *testing.T) {
	for _, tc := range []struct {
		failures int
		msg, err string
	}{
		{failures: 1, msg: "mkdirat workspaces: file exists"},
		{failures: 2, msg: "mkdirat workspaces: file exists"},
		{failures: 2, msg: `failed to Lchown ".docker-workspace/workspaces/x" for UID 0, GID 0: lchownat .docker-workspace/workspaces/x: no such file or directory`},
		{failures: 5, msg: "mkdirat workspaces: file exists", err: "mkdirat workspaces: file exists"},
	} {
		cfg := bindConfig(t)
		cfg.CreateHostDirs = false
		cfg.User = "1000:1000"
		f := sandboxtest.NewEngine()
		f.SetHost(filepath.Dir(cfg.SharedDir), &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
		left := tc.failures
		copies := 0
		f.OnCopyTo = func(string) error {
			copies++
			if left > 0 && copies == 1 || left > 0 && left < tc.failures {
				left--
				return errors.New("Error response from daemon: " + tc.msg)
			}
			return nil
		}
		_, err := newManager(f).Ensure(context.Background(), "a", cfg)
		if tc.err != "" {
			assert.Check(t, is.ErrorContains(err, tc.err))
			assert.Check(t, f.ByName("gws-a") == nil)
			continue
		}
		assert.NilError(t, err, "%d failures", tc.failures)
		assert.Check(t, f.HostEntry(filepath.Join(cfg.WorkspaceRoot, "a")) != nil)
		assert.Check(t, f.ByName("gws-a") != nil)
	}
}

// The registry read while another ensure writes a record in it: the
// engine's archive ends early (a file changed size under the archiver); it
// is read again.
func TestEnsureReadsRecordsAgainWhenTheArchiveBreaks(t *testing.T) {
	f := sandboxtest.NewEngine()
	broken := 0
	f.OnCopyFrom = func(p string) io.ReadCloser {
		if strings.HasSuffix(p, "/"+sandbox.RegistryDir) && broken < 2 {
			broken++
			return io.NopCloser(strings.NewReader("truncated tar header"))
		}
		return nil
	}
	_, err := newManager(f).Ensure(context.Background(), "a", volumeConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(broken, 2))
	assert.Check(t, f.ByName("gws-a") != nil)
}

// Temporary containers that a killed process left are removed by the next
// ensure that creates a container; those of live processes are not.
func TestEnsureCollectsGarbage(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	boot := bootID()
	if boot == "" {
		t.Skip("no /proc/sys/kernel/random/boot_id: the creator of a container cannot be told")
	}
	dead := f.Add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelCreator: boot + ":999999999:1"}}, container.HostConfig{})
	helper := f.Add(tempName(helperPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelCreator: boot + ":1:0", sandbox.LabelHelper: "prepare"}}, container.HostConfig{})
	live := f.Add(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelCreator: thisProcess()}}, container.HostConfig{})
	elsewhere := f.Add(tempName(helperPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelCreator: "other-boot:1:1"}}, container.HostConfig{})
	old := f.Add(tempName(helperPrefix), container.StateCreated, container.Config{Labels: map[string]string{sandbox.LabelCreator: "other-boot:1:1"}}, container.HostConfig{})
	old.Created = old.Created.Add(-time.Hour)
	notOurs := f.Add(tempName(tempPrefix), container.StateCreated, container.Config{}, container.HostConfig{})
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	for _, c := range []*sandboxtest.Ctr{dead, helper, old} {
		assert.Check(t, f.ByName(c.Name) == nil, "%s was kept", c.Name)
	}
	for _, c := range []*sandboxtest.Ctr{live, elsewhere, notOurs} {
		assert.Check(t, f.ByName(c.Name) != nil, "%s was removed", c.Name)
	}
}

// Every engine call is bounded by the timeout, reads too, and a deadline
// is a TimeoutError naming the call.
func TestEngineCallsAreBounded(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Hung = true
	m := newManager(f, func(o *Options) { o.Timeout = time.Second })
	_, err := m.Ensure(context.Background(), "a", bindConfig(t))
	var te *sandbox.TimeoutError
	assert.Assert(t, errors.As(err, &te), "%v", err)
	assert.Check(t, is.Equal(te.Op, "inspect container gws-a"))
	assert.Check(t, is.Equal(te.After, time.Second))
	assert.Check(t, sandbox.Unreachable(err))

	// A caller's own cancellation is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Ensure(ctx, "a", bindConfig(t))
	assert.Check(t, errors.Is(err, context.Canceled) && !errors.As(err, &te), "%v", err)
}

func TestEnsureRefusesAnotherWorkspacesContainer(t *testing.T) {
	long := strings.Repeat("x", 50)
	for _, tc := range []struct{ owner, subdir string }{
		{owner: "a-b", subdir: "a b"},
		{owner: "ab", subdir: "Ab"},
		{owner: long + "-one", subdir: long + "-two"},
	} {
		cfg := bindConfig(t)
		f := sandboxtest.NewEngine()
		ours(f, tc.owner, cfg, container.StateExited)
		assert.Assert(t, is.Equal(sandbox.ContainerName(tc.owner), sandbox.ContainerName(tc.subdir)))
		_, err := newManager(f).Ensure(context.Background(), tc.subdir, cfg)
		assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
		assert.Check(t, is.ErrorContains(err, fmt.Sprintf("belongs to workspace %q, not %q", tc.owner, tc.subdir)))
		assert.Check(t, is.Equal(f.Calls(), "inspect:"+sandbox.ContainerName(tc.subdir)), "something was touched")
		// stop and rm find it is not theirs to touch.
		targets, err := newManager(f).Resolve(context.Background(), []string{tc.subdir})
		assert.NilError(t, err)
		assert.Check(t, is.ErrorIs(targets[0].Err, sandbox.ErrNotThisWorkspace))
		assert.Check(t, targets[0].Workspace == nil)
	}
}

// seed adds a container of the original module: no labels of ours.
func seed(f *sandboxtest.Engine, name string, state container.ContainerState, mounts ...mount.Mount) {
	f.Add(name, state, container.Config{Image: sandbox.DefaultImage, Labels: map[string]string{"org.opencontainers.image.title": "x"}},
		container.HostConfig{Mounts: mounts})
}

func TestEnsureAdoptsSeedContainerWithOurMount(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	assert.NilError(t, os.MkdirAll(filepath.Join(cfg.WorkspaceRoot, "a"), 0o755))
	assert.NilError(t, os.MkdirAll(cfg.SharedDir, 0o755))
	seed(f, "gws-a", container.StateExited, sandbox.BindMounts(filepath.Join(cfg.WorkspaceRoot, "a"), cfg.SharedDir, false)...)
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionStarted))
	assert.Check(t, is.DeepEqual(res.Drift, []string{sandbox.DriftUnknown}))

	vcfg := volumeConfig()
	f = sandboxtest.NewEngine()
	seed(f, "gws-a", container.StateRunning, mount.Mount{Type: mount.TypeVolume, Source: "ws", Target: sandbox.WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "a"}})
	res, err = newManager(f).Ensure(context.Background(), "a", vcfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
}

func TestEnsureRefusesSeedContainerWithOtherMount(t *testing.T) {
	cfg := bindConfig(t)
	vcfg := volumeConfig()
	for _, tc := range []struct {
		name  string
		cfg   sandbox.Config
		state container.ContainerState
		mount mount.Mount
	}{
		{name: "other bind source", cfg: cfg, state: container.StateExited,
			mount: mount.Mount{Type: mount.TypeBind, Source: filepath.Join(cfg.WorkspaceRoot, "a-b"), Target: sandbox.WorkspaceTarget}},
		{name: "no workspace mount", cfg: cfg, state: container.StateExited, mount: mount.Mount{Type: mount.TypeBind, Source: "/srv", Target: "/srv"}},
		{name: "whole volume", cfg: vcfg, state: container.StateRunning, mount: mount.Mount{Type: mount.TypeVolume, Source: "ws", Target: sandbox.WorkspaceTarget}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sandboxtest.NewEngine()
			seed(f, "gws-a-b", tc.state, tc.mount)
			_, err := newManager(f).Ensure(context.Background(), "a b", tc.cfg)
			assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
			assert.Check(t, is.ErrorContains(err, "refusing to adopt it"))
			assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a-b"))
		})
	}
}

func TestEnsureDrift(t *testing.T) {
	cfg := bindConfig(t)
	changed := cfg
	changed.Network = "other"
	changed.Memory = 1 << 30
	changed.Env = []string{"TOKEN=secret"}

	// never: reported, kept, one inspect.
	f := sandboxtest.NewEngine()
	f.AddNetwork("other", nil)
	running := placed(t, f, "a", cfg, container.StateRunning)
	f.CallLog = nil
	res, err := newManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.DeepEqual(res.Drift, []string{"network", "limits", "env"}))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a"))

	// if-changed without drift: kept.
	same := cfg
	same.Recreate = sandbox.RecreateIfChanged
	res, err = newManager(f).Ensure(context.Background(), "a", same)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.Equal(res.ID, running.ID))

	// if-changed: replaced.
	changed.Recreate = sandbox.RecreateIfChanged
	res, err = newManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
	// What differed: why it was replaced (new-user pass 7).
	assert.Check(t, is.DeepEqual(res.Drift, []string{"network", "limits", "env"}))
	res, err = newManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning), "replaced again")

	// always: replaced once.
	changed.Recreate = sandbox.RecreateAlways
	res, err = newManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
}

// The image a reference names is compared only when that can change what
// Ensure does (recreate, or pull always): a warm ensure stays one inspect.
func TestEnsureImageDrift(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	placed(t, f, "a", cfg, container.StateRunning)
	img := f.Images[sandbox.DefaultImage]
	img.ID = "sha256:2222"
	f.Images[sandbox.DefaultImage] = img
	f.CallLog = nil
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Drift, 0))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a"))

	cfg.Recreate = sandbox.RecreateIfChanged
	res, err = newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
}

func TestEnsureRefusesBadInputBeforeAnyCall(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := newManager(f)
	_, err := m.Ensure(context.Background(), "../etc", bindConfig(t))
	assert.Check(t, is.ErrorIs(err, sandbox.ErrInvalidSubdir))
	for _, tc := range []struct {
		mutate func(*sandbox.Config)
		err    string
	}{
		{func(c *sandbox.Config) {
			c.Mode, c.WorkspaceVolume, c.SharedVolume = sandbox.ModeVolumeSubpath, "ws", ""
		}, "needs both a workspace volume and a shared volume"},
		{func(c *sandbox.Config) { c.WorkspaceRoot = "relative" }, "absolute workspace root"},
		{func(c *sandbox.Config) { c.Labels = map[string]string{sandbox.LabelSubdir: "x"} }, "reserved"},
		{func(c *sandbox.Config) { c.Env = []string{"NOVALUE"} }, "must be KEY=VALUE"},
		{func(c *sandbox.Config) { c.Memory = -1 }, "must not be negative"},
		{func(c *sandbox.Config) { c.Recreate = "sometimes" }, "invalid recreate policy"},
		{func(c *sandbox.Config) { c.SharedDir = filepath.Join(c.WorkspaceRoot, "sh") }, "overlaps the workspace root"},
	} {
		cfg := bindConfig(t)
		tc.mutate(&cfg)
		_, err = m.Ensure(context.Background(), "a", cfg)
		assert.Check(t, is.ErrorContains(err, tc.err))
	}
	assert.Check(t, is.Equal(f.Calls(), ""))
}

func missingImage(f *sandboxtest.Engine, pullErr error) {
	img := f.Images[sandbox.DefaultImage]
	delete(f.Images, sandbox.DefaultImage)
	f.OnPull = func(string) (io.ReadCloser, error) {
		if pullErr != nil {
			return nil, pullErr
		}
		f.Mu.Lock()
		f.Images[sandbox.DefaultImage] = img
		f.Mu.Unlock()
		return io.NopCloser(strings.NewReader(`{"status":"Pulling from agent/workspace"}` + "\n")), nil
	}
}

func TestEnsurePullsMissingImage(t *testing.T) {
	f := sandboxtest.NewEngine()
	missingImage(f, nil)
	res, err := newManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	assert.Check(t, strings.HasPrefix(f.Calls(), "inspect:gws-a image:agent/workspace:latest pull:agent/workspace:latest image:agent/workspace:latest network:gws.open netcreate:gws.open create:gws_new"), f.Calls())
}

func TestEnsurePullFailureNamesImage(t *testing.T) {
	f := sandboxtest.NewEngine()
	missingImage(f, errors.New("dial tcp: lookup registry: no such host"))
	_, err := newManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, `workspace "a": pull image agent/workspace:latest: dial tcp: lookup registry: no such host`))
	assert.Check(t, !strings.Contains(f.Calls(), "create:"))
}

func TestEnsurePullNever(t *testing.T) {
	f := sandboxtest.NewEngine()
	missingImage(f, nil)
	cfg := bindConfig(t)
	cfg.Pull = sandbox.PullNever
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, `image agent/workspace:latest is not on the engine and the pull policy is "never"`))
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a image:agent/workspace:latest"))
}

func TestEnsurePullAlwaysPullsFirst(t *testing.T) {
	cfg := bindConfig(t)
	cfg.Pull = sandbox.PullAlways
	f := sandboxtest.NewEngine()
	placed(t, f, "a", cfg, container.StateRunning)
	missingImage(f, nil)
	f.CallLog = nil
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.Calls(), "pull:agent/workspace:latest inspect:gws-a image:agent/workspace:latest"))
}

type bufferStream struct{ strings.Builder }

func (*bufferStream) FD() uintptr      { return 0 }
func (*bufferStream) IsTerminal() bool { return false }

func TestPullProgressIsRendered(t *testing.T) {
	f := sandboxtest.NewEngine()
	missingImage(f, nil)
	out := &bufferStream{}
	var authFor string
	m := newManager(f, func(o *Options) {
		o.PullOutput = out
		o.RegistryAuth = func(_ context.Context, ref string) (string, error) { authFor = ref; return "token", nil }
	})
	_, err := m.Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out.String(), "Pulling from agent/workspace\n"))
	assert.Check(t, is.Equal(authFor, sandbox.DefaultImage))
}

func TestPullErrorInStreamIsReturned(t *testing.T) {
	f := sandboxtest.NewEngine()
	missingImage(f, nil)
	f.OnPull = func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n")), nil
	}
	_, err := newManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, `workspace "a": pull image agent/workspace:latest: manifest unknown`))
}

// Without --user, directories go to the user the image runs as.
func TestDirectoriesGoToTheImageUser(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	img := image.InspectResponse{ID: sandboxtest.ImageID, Config: &dockerspec.DockerOCIImageConfig{}}
	img.Config.User = "agent"
	f.Images[sandbox.DefaultImage] = img
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, strings.Contains(f.Calls(), "copyfrom:gws_new:/etc/passwd"))
}

// A symlink on the way to the root or the shared directory is followed
// only when nobody else could have planted or changed it.
func TestEnsureRefusesOthersSymlinksOnTheWay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a symlink another user owns needs root")
	}
	tmp := t.TempDir()
	sticky := filepath.Join(tmp, "tmp")
	assert.NilError(t, os.Mkdir(sticky, 0o777))
	assert.NilError(t, os.Chmod(sticky, os.ModeSticky|0o777)) // as /tmp
	secret := filepath.Join(tmp, "secret")
	assert.NilError(t, os.Mkdir(secret, 0o700))
	for _, name := range []string{"root-link", "shared-link"} {
		assert.NilError(t, os.Symlink(secret, filepath.Join(sticky, name)))
		assert.NilError(t, os.Lchown(filepath.Join(sticky, name), 1000, 1000))
	}
	f := sandboxtest.NewEngine()
	cfg := bindConfig(t)
	cfg.WorkspaceRoot = filepath.Join(sticky, "root-link", "ws")
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "root-link is a symlink owned by uid 1000"))
	cfg = bindConfig(t)
	cfg.SharedDir = filepath.Join(sticky, "shared-link")
	_, err = newManager(f).Ensure(context.Background(), "a", cfg)
	// The shared directory goes through no symlink at all: one of root's
	// may be a tenant's (root in its container) in another shared
	// directory.
	assert.Check(t, is.ErrorContains(err, "shared-link is "+secret+": its path goes through a symlink"))
	assert.Check(t, is.Len(f.Names(), 0))
	entries, _ := os.ReadDir(secret)
	assert.Check(t, is.Len(entries, 0), "something was made in the secret directory")
	fi, err := os.Stat(secret)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Sys().(*syscall.Stat_t).Uid, uint32(0)), "the secret directory was given away")

	// A symlink of root's (as /var/run -> /run) is the administrator's: followed.
	assert.NilError(t, os.Symlink(tmp, filepath.Join(sticky, "roots")))
	cfg = bindConfig(t)
	cfg.WorkspaceRoot = filepath.Join(sticky, "roots", "ws")
	_, err = newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
}

// Roots must not nest: one root's workspaces could hold the other's.
func TestEnsureRefusesNestedRoots(t *testing.T) {
	base := t.TempDir()
	cfg := bindConfig(t)
	cfg.WorkspaceRoot = filepath.Join(base, "r")
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "p/q", cfg)
	assert.NilError(t, err)
	inner := cfg
	inner.WorkspaceRoot = filepath.Join(base, "r", "p") // its q would be p/q
	_, err = newManager(f).Ensure(context.Background(), "q", inner)
	assert.Check(t, is.ErrorContains(err, "is inside "+cfg.WorkspaceRoot+", the root of other workspaces"))
	_, err = os.Lstat(filepath.Join(inner.WorkspaceRoot, sandbox.RegistryDir))
	assert.Check(t, os.IsNotExist(err), "a refused root stays marked as one")
	outer := cfg
	outer.WorkspaceRoot = base // its r would hold the whole root r
	_, err = newManager(f).Ensure(context.Background(), "r", outer)
	assert.Check(t, is.ErrorContains(err, "is the root of other workspaces"))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-p-q:running"}))

	// A shared directory in a root (or that is one) would be seen by every
	// workspace of that root; it is refused before it is made.
	for shared, want := range map[string]string{
		filepath.Join(base, "r"):                     "the shared directory " + cfg.WorkspaceRoot + " holds .docker-workspace: it is the root of workspaces",
		filepath.Join(base, "r", "p", "q", "shared"): "is in " + cfg.WorkspaceRoot + ", the root of other workspaces",
	} {
		other := bindConfig(t)
		other.SharedDir = shared
		_, err = newManager(f).Ensure(context.Background(), "z", other)
		assert.Check(t, is.ErrorContains(err, want))
	}
	_, err = os.Lstat(filepath.Join(base, "r", "p", "q", "shared"))
	assert.Check(t, os.IsNotExist(err), "the refused shared directory was made")

	// Two claims of one directory by two workspaces conflict too.
	a := claims.Claim{Subdir: "p/q", Bind: "/srv/r/p/q"}
	assert.Check(t, claims.Overlaps(a, claims.Claim{Subdir: "q", Bind: "/srv/r/p/q"}))
	assert.Check(t, !claims.Overlaps(a, claims.Claim{Subdir: "p/q", Bind: "/srv/r/p/q"}))
}

// Overlapping workspaces through two engines on one host (whose container
// lists do not see each other's): the root's lock and records decide.
func TestEnsureOverlapAcrossEngines(t *testing.T) {
	cfg := bindConfig(t)
	modern, legacy := sandboxtest.NewEngine(), sandboxtest.NewEngine()
	for i := range 10 {
		outer := fmt.Sprintf("e%d", i)
		errs := make(chan error, 2)
		go func() { _, err := newManager(modern).Ensure(context.Background(), outer, cfg); errs <- err }()
		go func() { _, err := newManager(legacy).Ensure(context.Background(), outer+"/x", cfg); errs <- err }()
		ok := 0
		for range 2 {
			if err := <-errs; err == nil {
				ok++
			} else {
				assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
			}
		}
		assert.Check(t, is.Equal(ok, 1), "round %d: %d of two overlapping workspaces were made", i, ok)
	}
}

// On an engine's host, the root, the directories above it and those between
// it and a workspace must be root's and writable by nobody else (above the
// root, a sticky directory will do, but nothing is made straight in one); no
// element may be a symlink; roots do not nest, and the shared directory is
// in none.
func TestEnsureRemoteBindRefusesWhatOthersCanChange(t *testing.T) {
	cfg := bindConfig(t)
	cfg.CreateHostDirs = false
	cfg.WorkspaceRoot, cfg.SharedDir = "/srv/gws/ws", "/var/gwsh/shared"
	dir := func(uid, mode int) *sandboxtest.MemEntry {
		return &sandboxtest.MemEntry{Dir: true, UID: uid, Mode: mode}
	}
	// rootAt makes p the root of a workspace "x" (its marker, root's, and
	// its record).
	rootAt := func(f *sandboxtest.Engine, p string) {
		name, content := claims.RecordFor("x")
		f.SetHost(p+"/"+sandbox.RegistryDir, dir(0, 0o700))
		f.SetHost(p+"/"+claims.RegistryPath, dir(0, 0o700))
		f.SetHost(p+"/"+claims.RegistryPath+"/"+name, &sandboxtest.MemEntry{Data: string(content)})
	}
	for _, tc := range []struct {
		name  string
		setup func(f *sandboxtest.Engine, cfg *sandbox.Config)
		err   string
	}{
		{name: "root owned by another user", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws/ws", dir(1000, 0o755)) },
			err: "workspace root /srv/gws/ws on the engine's host is owned by uid 1000"},
		{name: "root writable by others", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws/ws", dir(0, 0o1777)) },
			err: "workspace root /srv/gws/ws on the engine's host is writable by its group or by others"},
		{name: "a directory above the root owned by another user", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws", dir(1000, 0o755)) },
			err: "workspace root /srv/gws/ws: /srv/gws on the engine's host is owned by uid 1000"},
		{name: "a directory above the root a symlink", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/srv/gws", &sandboxtest.MemEntry{Link: "/home/mallory"})
		},
			err: "workspace root /srv/gws/ws: /srv/gws on the engine's host is a symlink"},
		{name: "a directory above the root writable by others", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws", dir(0, 0o777)) },
			err: "/srv/gws on the engine's host is writable by its group or by others (mode 0777) and not sticky"},
		{name: "a root to make in a sticky directory", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws", dir(0, 0o1777)) },
			err: "workspace root /srv/gws/ws does not exist on the engine's host, and /srv/gws can be written by others"},
		{name: "a parent in the root writable by others", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/srv/gws/ws/team", dir(0, 0o777)) },
			err: "workspace \"team/a\": team in /srv/gws/ws on the engine's host is writable by its group or by others"},
		{name: "a parent in the root a symlink", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/srv/gws/ws/team", &sandboxtest.MemEntry{Link: "/etc"})
		},
			err: "workspace \"team/a\": team in /srv/gws/ws on the engine's host is a symlink"},
		{name: "the root inside another root", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			rootAt(f, "/srv/gws")
		},
			err: "workspace root /srv/gws/ws is in /srv/gws on the engine's host, the root of other workspaces"},
		{name: "a root below the root", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/srv/gws/ws/team/"+sandbox.RegistryDir, dir(0, 0o700))
		},
			err: "workspace \"team/a\": team in /srv/gws/ws on the engine's host is the root of other workspaces"},
		{name: "shared directory a symlink", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/var/gwsh/shared", &sandboxtest.MemEntry{Link: "/srv/gws/ws"})
		},
			err: "shared directory /var/gwsh/shared: /var/gwsh/shared on the engine's host is a symlink"},
		{name: "shared directory a root", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/var/gwsh/shared/"+sandbox.RegistryDir, dir(0, 0o700))
		},
			err: "the shared directory /var/gwsh/shared on the engine's host holds .docker-workspace: it is the root of workspaces"},
		{name: "shared directory another user owns in a sticky directory", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) {
			f.SetHost("/var/gwsh", dir(0, 0o1777))
			f.SetHost("/var/gwsh/shared", dir(1000, 0o755))
		}, err: "shared directory /var/gwsh/shared on the engine's host is owned by uid 1000 in /var/gwsh, which others can write"},
		{name: "shared directory other users can reach", setup: func(f *sandboxtest.Engine, _ *sandbox.Config) { f.SetHost("/var/gwsh", dir(0, 0o755)) },
			err: "shared directory /var/gwsh/shared: every directory above it on the engine's host can be entered by other users there"},
		{name: "shared directory with the root beside it: the root is not made", setup: func(f *sandboxtest.Engine, cfg *sandbox.Config) {
			cfg.SharedDir = "/srv/gws/shared"
			f.SetHost("/srv/gws/shared", &sandboxtest.MemEntry{Link: "/etc"})
		}, err: "is a symlink"},
		{name: "shared directory in another root", setup: func(f *sandboxtest.Engine, cfg *sandbox.Config) {
			rootAt(f, "/srv/other")
			cfg.SharedDir = "/srv/other/shared"
		}, err: "shared directory /srv/other/shared is in /srv/other on the engine's host, the root of other workspaces"},
		{name: "shared directory under a directory others own", setup: func(f *sandboxtest.Engine, cfg *sandbox.Config) {
			f.SetHost("/var/mallory", dir(1000, 0o755))
			cfg.SharedDir = "/var/mallory/shared"
		}, err: "shared directory /var/mallory/shared: /var/mallory on the engine's host is owned by uid 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sandboxtest.NewEngine()
			f.SetHost("/var/gwsh", dir(0, 0o700)) // no other user enters it
			cfg := cfg
			tc.setup(f, &cfg)
			_, err := newManager(f).Ensure(context.Background(), "team/a", cfg)
			assert.Check(t, is.ErrorContains(err, tc.err))
			assert.Check(t, is.Len(f.Names(), 0), "left: %v", f.Names())
			assert.Check(t, f.HostEntry("/srv/gws/ws/team/a") == nil, "the workspace's directory was made")
			assert.Check(t, f.HostEntry("/srv/gws/ws/"+sandbox.RegistryDir+"/workspaces") == nil, "a record was made")
			if strings.HasPrefix(tc.err, "workspace root") || strings.Contains(tc.name, "shared") {
				assert.Check(t, f.HostEntry("/srv/gws/ws/"+sandbox.RegistryDir) == nil, "a refused root was marked as one")
			}
		})
	}

	// Above the root, a sticky directory (/tmp) will do when what is in it
	// is root's.
	f := sandboxtest.NewEngine()
	f.SetHost("/srv/gws", dir(0, 0o1777))
	f.SetHost("/srv/gws/ws", dir(0, 0o700))
	f.SetHost("/var/gwsh", dir(0, 0o700))
	f.SetHost("/var/gwsh/shared", dir(0, 0o755))
	_, err := newManager(f).Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)

	// Markers that say nothing (issue 17, 7 and 8 on an engine's host): one
	// a local user made in the sticky directory, and one with no record
	// (a root whose first ensure was refused).
	for _, marker := range []*sandboxtest.MemEntry{dir(1000, 0o755), dir(0, 0o700)} {
		f := sandboxtest.NewEngine()
		f.SetHost("/srv/gws", dir(0, 0o1777))
		f.SetHost("/srv/gws/"+sandbox.RegistryDir, marker)
		f.SetHost("/srv/gws/ws", dir(0, 0o700))
		f.SetHost("/var/gwsh", dir(0, 0o700))
		_, err := newManager(f).Ensure(context.Background(), "team/a", cfg)
		assert.Check(t, err, "marker of uid %d", marker.UID)
	}

	// A first ensure refused when its container starts (a seccomp profile
	// the engine cannot read): its record is emptied, and the root, which
	// records nothing, refuses no root inside it (issue 17, 8).
	f = sandboxtest.NewEngine()
	f.SetHost("/srv/gws", dir(0, 0o700))
	f.SetHost("/var/gwsh", dir(0, 0o700))
	f.OnStart = func(*sandboxtest.Ctr) error { return errors.New("Decoding seccomp profile failed") }
	_, err = newManager(f).Ensure(context.Background(), "team/a", cfg)
	assert.Check(t, is.ErrorContains(err, "Decoding seccomp profile failed"))
	name, _ := claims.RecordFor("team/a")
	assert.Check(t, is.Equal(f.HostEntry("/srv/gws/ws/"+claims.RegistryPath+"/"+name).Data, ""), "the record stays")
	f.OnStart = nil
	inner := cfg
	inner.WorkspaceRoot = "/srv/gws/ws/inner"
	f.SetHost("/srv/gws/ws/inner", dir(0, 0o700))
	_, err = newManager(f).Ensure(context.Background(), "b", inner)
	assert.Check(t, err)
}

// A registry that is not made of directories is refused, not read as
// empty (which would let an overlap through).
func TestEnsureVolumeRegistryMustBeDirectories(t *testing.T) {
	for name, entries := range map[string]map[string]*sandboxtest.MemEntry{
		"a symlink": {".docker-workspace": {Link: "elsewhere"}},
		"a file":    {".docker-workspace": {Dir: true}, ".docker-workspace/workspaces": {Data: "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := sandboxtest.NewEngine()
			f.FS["ws"] = sandboxtest.NewMemFS()
			for k, v := range entries {
				f.FS["ws"].Entries[k] = v
			}
			_, err := newManager(f).Ensure(context.Background(), "a", volumeConfig())
			assert.Check(t, is.ErrorContains(err, "is not a directory ("+name+"): refused"))
			_, made := f.FS["ws"].Entries["a"]
			assert.Check(t, !made, "the workspace's directory was made")
			assert.Check(t, is.Len(f.Names(), 0))
		})
	}
}

// A replacement killed after it set the old container aside: the next
// ensure gives the old one its name back (with its anonymous volumes) and
// starts it, rather than making an empty one.
func TestEnsureAdoptsASetAsideContainer(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	old := placed(t, f, "a", cfg, container.StateExited)
	old.Name = tempName(oldPrefix)
	f.CallLog = nil
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, old.ID))
	assert.Check(t, is.Equal(res.Action, sandbox.ActionStarted))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))

	// One that mounts something else at the workspace is not taken.
	f = sandboxtest.NewEngine()
	forged := f.Add(tempName(oldPrefix), container.StateExited, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "b"}},
		container.HostConfig{Mounts: sandbox.BindMounts("/etc", cfg.SharedDir, false)})
	res, err = newManager(f).Ensure(context.Background(), "b", cfg)
	assert.NilError(t, err)
	assert.Check(t, res.ID != forged.ID)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))

	// One set aside long ago (its removal failed, and the workspace was
	// removed since) is left to prune, not brought back.
	f = sandboxtest.NewEngine()
	stale := placed(t, f, "c", cfg, container.StateExited)
	b := make([]byte, 6)
	binary.BigEndian.PutUint32(b, uint32(time.Now().Add(-adoptWindow-time.Minute).Unix()))
	stale.Name = oldPrefix + hex.EncodeToString(b)
	res, err = newManager(f).Ensure(context.Background(), "c", cfg)
	assert.NilError(t, err)
	assert.Check(t, res.ID != stale.ID)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	assert.Check(t, is.Equal(f.ByName(stale.Name), stale), "the old one was touched")
	assert.Check(t, setAsideRecently(tempName(oldPrefix), time.Now()))
	assert.Check(t, !setAsideRecently(tempName(tempPrefix), time.Now()))
}

// Interrupted while the replacement starts: the old container is back,
// running, under its name (restored with a context of its own).
func TestEnsureInterruptedReplacementRestoresTheOld(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	old := placed(t, f, "a", cfg, container.StateRunning)
	cfg.Recreate = sandbox.RecreateAlways
	ctx, cancel := context.WithCancel(context.Background())
	f.OnStart = func(c *sandboxtest.Ctr) error {
		if c != old {
			cancel() // Ctrl-C
			return context.Canceled
		}
		return nil
	}
	_, err := newManager(f).Ensure(ctx, "a", cfg)
	assert.Check(t, is.ErrorIs(err, context.Canceled))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running"}))
	assert.Check(t, f.ByName("gws-a") == old)
}

// A failure keeps what another ensure of the same workspace, made at the
// same moment, uses.
func TestEnsureFailureKeepsWhatAnotherUses(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	f.OnStart = func(c *sandboxtest.Ctr) error {
		s := sandbox.SpecFor("a", cfg, sandboxtest.ImageID)
		f.AddLocked(tempName(tempPrefix), container.StateCreated, container.Config{Labels: map[string]string{
			sandbox.LabelSubdir: "a", sandbox.LabelConfigHash: s.Hash(), sandbox.LabelCreator: thisProcess(),
		}}, c.HC)
		return errors.New("OCI runtime create failed")
	}
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "OCI runtime create failed"))
	_, err = os.Stat(filepath.Join(cfg.WorkspaceRoot, "a"))
	assert.Check(t, err, "the other's directory was removed")
}

// Another ensure of the same workspace that failed at the same moment
// removed the directory this one made its container with: made again.
func TestEnsureRemakesADirectoryRemovedUnderIt(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	removed := false
	f.OnCreate = func(name string, _ *container.Config, hc *container.HostConfig) error {
		if !removed {
			removed = true
			assert.NilError(t, os.Remove(hc.Mounts[0].Source))
			return cerrdefs.ErrInvalidArgument.WithMessage("invalid mount config for type \"bind\": bind source path does not exist")
		}
		return nil
	}
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	fi, err := os.Stat(filepath.Join(cfg.WorkspaceRoot, "a"))
	assert.Check(t, err == nil && fi.IsDir())
}

// A line of /etc/passwd longer than bufio's default (64 KiB) before the
// user's is read past, not taken as "not found".
func TestNamedUserAfterALongPasswdLine(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	f.Passwd = "junk:x:1:1:" + strings.Repeat("g", 100<<10) + ":/:/bin/sh\n" + f.Passwd
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
}

// A workspace never is, holds or lies in a shared directory of another
// configuration, nor a shared directory in a workspace: every container
// that shares the directory would see the workspace.
func TestEnsureRefusesAWorkspaceThatMeetsASharedDirectory(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	// x shares a directory that is where workspace "a" of cfg would be.
	other := bindConfig(t)
	other.SharedDir = filepath.Join(cfg.WorkspaceRoot, "a")
	placed(t, f, "x", other, container.StateRunning)
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `workspace "a" would be, hold or lie in the shared directory of workspace "x" (container gws-x)`))
	_, err = newManager(f).Ensure(context.Background(), "b", cfg) // beside it: fine
	assert.NilError(t, err)

	// Here a shared directory in a root is refused as such; on a remote
	// engine's host, in the directory of a container that no root holds:
	inside := bindConfig(t)
	inside.SharedDir = filepath.Join(cfg.WorkspaceRoot, "b", "shared")
	_, err = newManager(f).Ensure(context.Background(), "y", inside)
	assert.Check(t, is.ErrorContains(err, "is in "+cfg.WorkspaceRoot+", the root of other workspaces"))
	f = sandboxtest.NewEngine()
	f.Add("gws-b", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "b"}},
		container.HostConfig{Mounts: sandbox.BindMounts("/srv/r1/b", "/srv/s", false)})
	f.SetHost("/srv", &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
	remote := sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, Pull: sandbox.PullMissing, WorkspaceRoot: "/srv/r2", SharedDir: "/srv/r1/b/shared"}
	_, err = newManager(f).Ensure(context.Background(), "y", remote)
	assert.Check(t, is.ErrorContains(err, `the shared directory of workspace "y" would be, hold or lie in the directory of workspace "b" (container gws-b)`))
	assert.Check(t, f.ByName("gws-y") == nil)

	// Volumes: a workspace volume that is another's shared volume.
	f = sandboxtest.NewEngine()
	vcfg := volumeConfig()
	vother := volumeConfig()
	vother.WorkspaceVolume, vother.SharedVolume = "ws2", "ws"
	placed(t, f, "x", vother, container.StateRunning)
	_, err = newManager(f).Ensure(context.Background(), "a", vcfg)
	assert.Check(t, is.ErrorContains(err, `would be, hold or lie in the shared directory of workspace "x"`))
}

// Two subdirs of one name made at once: the one that loses the name to the
// other's container gives up, and takes back its directory and its record
// (else they would hold the place for ever).
func TestEnsureLosingANameToAnotherWorkspaceUndoes(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	f.OnRename = func(c *sandboxtest.Ctr, newName string) error {
		if newName == "gws-a-b" && f.Find("gws-a-b") == nil {
			f.AddLocked("gws-a-b", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "a-b"}}, container.HostConfig{})
		}
		return nil
	}
	_, err := newManager(f).Ensure(context.Background(), "a b", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `container gws-a-b belongs to workspace "a-b", not "a b"`))
	_, err = os.Lstat(filepath.Join(cfg.WorkspaceRoot, "a b"))
	assert.Check(t, os.IsNotExist(err), "the loser's directory stays")
	_, err = os.Lstat(filepath.Join(cfg.WorkspaceRoot, sandbox.RegistryDir, claims.RegistryWorkspaces, recordName("a b")))
	assert.Check(t, os.IsNotExist(err), "the loser's record stays")
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a-b:running"}))
}

// A shared directory that other local users can reach is refused (a tenant,
// root in its container, can make it 0755 and leave a setuid program in
// it); so is one inside another configuration's shared directory, whose
// tenants could redirect it.
func TestEnsureSharedDirectoryMustBeOutOfReach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: directories of root's")
	}
	open, err := os.MkdirTemp("", "open-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(open) })
	assert.NilError(t, os.Chmod(open, 0o755)) // in /tmp: every user walks here
	cfg := bindConfig(t)
	cfg.SharedDir = filepath.Join(open, "shared")
	f := sandboxtest.NewEngine()
	_, err = newManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "every directory above it can be entered by other local users"))
	_, err = os.Lstat(cfg.SharedDir)
	assert.Check(t, os.IsNotExist(err), "the refused shared directory was made")
	assert.Check(t, is.Len(f.Names(), 0))

	// sandbox.Shared directories of two configurations, one in the other.
	outer := bindConfig(t)
	_, err = newManager(f).Ensure(context.Background(), "x", outer)
	assert.NilError(t, err)
	inner := bindConfig(t)
	inner.SharedDir = filepath.Join(outer.SharedDir, "y")
	_, err = newManager(f).Ensure(context.Background(), "y", inner)
	assert.Check(t, is.ErrorContains(err, `the shared directory of workspace "y" would hold or lie in the shared directory of workspace "x"`))
	assert.Check(t, f.ByName("gws-y") == nil)
	same := bindConfig(t)
	same.SharedDir = outer.SharedDir // one directory, shared: fine
	_, err = newManager(f).Ensure(context.Background(), "z", same)
	assert.NilError(t, err)
}

// A shared volume that holds the records of workspaces is another
// configuration's workspace volume: refused.
func TestEnsureSharedVolumeHoldingWorkspacesIsRefused(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.FS["sh"] = sandboxtest.NewMemFS()
	f.FS["sh"].Entries[sandbox.RegistryDir] = &sandboxtest.MemEntry{Dir: true}
	_, err := newManager(f).Ensure(context.Background(), "a", volumeConfig())
	assert.Check(t, is.ErrorContains(err, "shared volume sh holds .docker-workspace: it is the workspace volume of other workspaces"))
	assert.Check(t, is.Len(f.Names(), 0))
}

// On a Swarm node's engine, a workspace that runs as a service's task is
// not this engine's: ensure refuses a second, standalone container of it,
// and ls, stop and rm do not see the task's container.
func TestEnsureRefusesAWorkspaceOfASwarmTask(t *testing.T) {
	f := sandboxtest.NewEngine()
	cfg := volumeConfig()
	task := f.Add("gws-a.1.x7k2", container.StateRunning, container.Config{Labels: map[string]string{
		sandbox.LabelSubdir: "a", sandbox.LabelMode: string(sandbox.ModeVolumeSubpath), claims.TaskLabel: "x7k2", claims.ServiceLabel: "gws-a",
	}}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "ws", Target: sandbox.WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "a"}}}})
	m := newManager(f)
	_, err := m.Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, "as a task of Swarm service gws-a"))
	assert.Check(t, f.ByName("gws-a") == nil)
	ws, err := m.List(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Len(ws, 0))
	assert.Check(t, f.ByName(task.Name) != nil)
}

// The Ensure calls of one command resolve the image's user once: one read
// of its /etc/passwd for all, each workspace's directory given to it; a
// failure to resolve it is not shared, and calls of separate commands read
// it each.
func TestEnsureResolvesTheUserOncePerCommand(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	agent := os.Getuid()
	if os.Geteuid() == 0 {
		agent = 1000 // as root, the workspace really goes to another user
	}
	f.Passwd = fmt.Sprintf("root:x:0:0::/root:/bin/sh\nagent:x:%d:%d::/home/agent:/bin/sh\n", agent, agent)
	m := newManager(f)
	shared := sandbox.NewShared()
	for _, s := range []string{"a", "b", "c"} {
		_, err := m.Ensure(context.Background(), s, cfg, sandbox.WithShared(shared))
		assert.NilError(t, err)
	}
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "copyfrom:gws_new:/etc/passwd"), 1), f.Calls())
	for _, s := range []string{"a", "b", "c"} {
		fi, err := os.Stat(filepath.Join(cfg.WorkspaceRoot, s))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(int(fi.Sys().(*syscall.Stat_t).Uid), agent), s)
	}

	_, err := m.Ensure(context.Background(), "d", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "copyfrom:gws_new:/etc/passwd"), 2), "a command of its own reads it again")

	// The first read fails (the file is unreadable for that one call): the
	// next call of the command reads it through its own container.
	reads := 0
	f.OnCopyFrom = func(path string) io.ReadCloser {
		if path == "/etc/passwd" {
			if reads++; reads == 1 {
				return io.NopCloser(iotest.ErrReader(errors.New("read failed")))
			}
		}
		return nil
	}
	shared = sandbox.NewShared()
	_, err = m.Ensure(context.Background(), "e", cfg, sandbox.WithShared(shared))
	assert.Check(t, is.ErrorContains(err, "read failed"))
	_, err = m.Ensure(context.Background(), "f", cfg, sandbox.WithShared(shared))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(reads, 2))
}

// A creator in another pid namespace (a server in a container) is not
// judged gone by its pid here: its temporary containers wait for
// staleAfter (the e2e suite's prune took a containerized server's helper).
func TestCreatorOfAnotherPidNamespace(t *testing.T) {
	me := thisProcess()
	assert.Check(t, !creatorGone(me))
	f := strings.Split(me, ":")
	assert.Assert(t, len(f) == 4)
	gone := strings.Join([]string{f[0], "999999", "1", f[3]}, ":")
	assert.Check(t, creatorGone(gone), "a gone process of this namespace")
	elsewhere := strings.Join([]string{f[0], "999999", "1", "4026530000"}, ":")
	assert.Check(t, !creatorGone(elsewhere), "a process of another namespace, judged by its pid here")
	old := strings.Join(f[:3], ":")
	assert.Check(t, !creatorGone(old), "a label without a namespace, of a live process")
}
