package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const imgID = "sha256:1111"

var (
	errNotFound = cerrdefs.ErrNotFound.WithMessage("No such container")
	errConflict = cerrdefs.ErrConflict.WithMessage("name is already in use")
)

func bindConfig(t *testing.T) Config {
	root := t.TempDir()
	return Config{
		Image: DefaultImage, Mode: ModeBind, Pull: PullMissing, Init: true, CreateHostDirs: true,
		WorkspaceRoot: filepath.Join(root, "workspaces"), SharedDir: filepath.Join(root, "shared"),
	}
}

func volumeConfig() Config {
	return Config{Image: DefaultImage, Mode: ModeVolumeSubpath, Pull: PullMissing, WorkspaceVolume: "ws", SharedVolume: "sh"}
}

// ours is the inspect of the container that Ensure(subdir, cfg) would
// have created, in a state.
func ours(subdir string, cfg Config, status container.ContainerState) container.InspectResponse {
	s := specFor(subdir, cfg, imgID)
	name := ContainerName(subdir)
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "id-" + name, Name: "/" + name, Image: imgID,
			State: &container.State{Status: status, Running: status == container.StateRunning, Paused: status == container.StatePaused},
		},
		Config: &container.Config{Image: cfg.Image, Labels: map[string]string{
			LabelSubdir: subdir, LabelMode: string(cfg.Mode), LabelConfigHash: s.hash(), LabelConfig: s.json(),
		}},
	}
}

// states returns an inspect function that answers each call with the next
// of the given answers (nil: not found), then repeats the last.
func states(answers ...*container.InspectResponse) func(string) (container.InspectResponse, error) {
	i := 0
	return func(string) (container.InspectResponse, error) {
		a := answers[min(i, len(answers)-1)]
		i++
		if a == nil {
			return container.InspectResponse{}, errNotFound
		}
		return *a, nil
	}
}

func ptr[T any](v T) *T { return &v }

// engine is a fake engine with working defaults: the image exists, create,
// start, unpause, remove and wait succeed.
func engine(inspect func(string) (container.InspectResponse, error)) *fakeClient {
	return &fakeClient{
		inspectFn: inspect,
		createFn: func(_ *container.Config, _ *container.HostConfig, name string) (container.CreateResponse, error) {
			if name == "" {
				return container.CreateResponse{ID: "helper"}, nil
			}
			return container.CreateResponse{ID: "new"}, nil
		},
		startFn:   func(string) error { return nil },
		unpauseFn: func(string) error { return nil },
		removeFn:  func(string) error { return nil },
		waitFn:    func(string) error { return nil },
		imageFn:   func(string) (image.InspectResponse, error) { return image.InspectResponse{ID: imgID}, nil },
	}
}

func TestEnsureStates(t *testing.T) {
	cfg := bindConfig(t)
	in := func(s container.ContainerState) *container.InspectResponse { return ptr(ours("alice", cfg, s)) }
	for _, tc := range []struct {
		name    string
		answers []*container.InspectResponse
		action  Action
		calls   string
	}{
		{name: "running", answers: []*container.InspectResponse{in(container.StateRunning)},
			action: ActionRunning, calls: "inspect:gws-alice"},
		{name: "exited", answers: []*container.InspectResponse{in(container.StateExited)},
			action: ActionStarted, calls: "inspect:gws-alice start:id-gws-alice"},
		{name: "created", answers: []*container.InspectResponse{in(container.StateCreated)},
			action: ActionStarted, calls: "inspect:gws-alice start:id-gws-alice"},
		{name: "paused", answers: []*container.InspectResponse{in(container.StatePaused)},
			action: ActionUnpaused, calls: "inspect:gws-alice unpause:id-gws-alice"},
		{name: "restarting then running", answers: []*container.InspectResponse{in(container.StateRestarting), in(container.StateRestarting), in(container.StateRunning)},
			action: ActionRunning, calls: "inspect:gws-alice inspect:gws-alice inspect:gws-alice"},
		{name: "being removed", answers: []*container.InspectResponse{in(container.StateRemoving), nil},
			action: ActionCreated, calls: "inspect:gws-alice wait:id-gws-alice inspect:gws-alice image:agent/workspace:latest create:gws-alice start:new"},
		{name: "missing", answers: []*container.InspectResponse{nil},
			action: ActionCreated, calls: "inspect:gws-alice image:agent/workspace:latest create:gws-alice start:new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := engine(states(tc.answers...))
			res, err := NewManager(f).Ensure(context.Background(), "alice", cfg)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(res.Action, tc.action))
			assert.Check(t, is.Equal(res.Subdir, "alice"))
			assert.Check(t, is.Equal(res.Name, "gws-alice"))
			assert.Check(t, is.Len(res.Drift, 0))
			assert.Check(t, is.Equal(f.callList(), tc.calls))
		})
	}
}

func TestEnsureDead(t *testing.T) {
	cfg := bindConfig(t)
	dead := ours("a", cfg, container.StateDead)
	f := engine(states(&dead))
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "container gws-a is dead"))
	assert.Check(t, is.ErrorContains(err, "--recreate"))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a"))

	cfg.Recreate = RecreateIfChanged
	f = engine(states(&dead, nil))
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRecreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest remove:id-gws-a inspect:gws-a image:agent/workspace:latest create:gws-a start:new"))
}

func TestEnsureStartFailureIsReturned(t *testing.T) {
	cfg := bindConfig(t)
	f := engine(states(ptr(ours("a", cfg, container.StateExited))))
	f.startFn = func(string) error { return errors.New("no space left") }
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.Error(err, "start container gws-a: no space left"))
}

// Another caller removes the container between our inspect and our start:
// it is created again.
func TestEnsureNotFoundOnStart(t *testing.T) {
	cfg := bindConfig(t)
	f := engine(states(ptr(ours("a", cfg, container.StateExited)), nil))
	f.startFn = func(id string) error {
		if id == "id-gws-a" {
			return errNotFound
		}
		return nil
	}
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a start:id-gws-a inspect:gws-a image:agent/workspace:latest create:gws-a start:new"))
}

// Another caller creates the container first: its container is used.
func TestEnsureConflictUsesWinner(t *testing.T) {
	cfg := bindConfig(t)
	f := engine(states(nil, ptr(ours("a", cfg, container.StateCreated))))
	f.createFn = func(*container.Config, *container.HostConfig, string) (container.CreateResponse, error) {
		return container.CreateResponse{}, errConflict
	}
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, "id-gws-a"))
	assert.Check(t, is.Equal(res.Action, ActionStarted))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest create:gws-a inspect:gws-a start:id-gws-a"))
}

func TestEnsureRefusesAnotherWorkspacesContainer(t *testing.T) {
	long := strings.Repeat("x", 50)
	for _, tc := range []struct{ owner, subdir string }{
		{owner: "a-b", subdir: "a b"},
		{owner: "ab", subdir: "Ab"},
		{owner: long + "-one", subdir: long + "-two"},
	} {
		cfg := bindConfig(t)
		ctr := ours(tc.owner, cfg, container.StateExited)
		assert.Assert(t, is.Equal(ContainerName(tc.owner), ContainerName(tc.subdir)))
		f := engine(states(&ctr))
		_, err := NewManager(f).Ensure(context.Background(), tc.subdir, cfg)
		assert.Check(t, is.ErrorIs(err, ErrNotThisWorkspace))
		assert.Check(t, is.ErrorContains(err, fmt.Sprintf("belongs to workspace %q, not %q", tc.owner, tc.subdir)))
		assert.Check(t, is.Equal(f.callList(), "inspect:"+ContainerName(tc.subdir)), "something was touched")
		// stop and rm refuse it too.
		f = engine(states(&ctr))
		_, err = NewManager(f).Stop(context.Background(), tc.subdir, nil)
		assert.Check(t, is.ErrorIs(err, ErrNotThisWorkspace))
		_, err = NewManager(f).Remove(context.Background(), tc.subdir, true)
		assert.Check(t, is.ErrorIs(err, ErrNotThisWorkspace))
		assert.Check(t, !strings.Contains(f.callList(), "stop:") && !strings.Contains(f.callList(), "remove:"))
	}
}

// seedContainer is a container of the original module: no labels of ours.
func seedContainer(name string, status container.ContainerState, mp container.MountPoint, hostMounts ...mount.Mount) container.InspectResponse {
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "seed", Name: "/" + name, State: &container.State{Status: status},
			HostConfig: &container.HostConfig{Mounts: hostMounts},
		},
		Config: &container.Config{Image: DefaultImage, Labels: map[string]string{"org.opencontainers.image.title": "x"}},
		Mounts: []container.MountPoint{mp},
	}
}

func TestEnsureAdoptsSeedContainerWithOurMount(t *testing.T) {
	cfg := bindConfig(t)
	bind := container.MountPoint{Type: mount.TypeBind, Source: filepath.Join(cfg.WorkspaceRoot, "a"), Destination: WorkspaceTarget}
	f := engine(states(ptr(seedContainer("gws-a", container.StateExited, bind))))
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionStarted))
	assert.Check(t, is.DeepEqual(res.Drift, []string{DriftUnknown}))

	vcfg := volumeConfig()
	vol := container.MountPoint{Type: mount.TypeVolume, Name: "ws", Destination: WorkspaceTarget}
	hm := mount.Mount{Type: mount.TypeVolume, Source: "ws", Target: WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "a"}}
	f = engine(states(ptr(seedContainer("gws-a", container.StateRunning, vol, hm))))
	res, err = NewManager(f).Ensure(context.Background(), "a", vcfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRunning))
}

func TestEnsureRefusesSeedContainerWithOtherMount(t *testing.T) {
	cfg := bindConfig(t)
	vcfg := volumeConfig()
	wholeVolume := mount.Mount{Type: mount.TypeVolume, Source: "ws", Target: WorkspaceTarget}
	for _, tc := range []struct {
		name string
		cfg  Config
		ctr  container.InspectResponse
	}{
		{name: "other bind source", cfg: cfg, ctr: seedContainer("gws-a-b", container.StateExited,
			container.MountPoint{Type: mount.TypeBind, Source: filepath.Join(cfg.WorkspaceRoot, "a-b"), Destination: WorkspaceTarget})},
		{name: "no workspace mount", cfg: cfg, ctr: seedContainer("gws-a-b", container.StateExited,
			container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/srv"})},
		{name: "whole volume", cfg: vcfg, ctr: seedContainer("gws-a-b", container.StateRunning,
			container.MountPoint{Type: mount.TypeVolume, Name: "ws", Destination: WorkspaceTarget}, wholeVolume)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := engine(states(&tc.ctr))
			_, err := NewManager(f).Ensure(context.Background(), "a b", tc.cfg)
			assert.Check(t, is.ErrorIs(err, ErrNotThisWorkspace))
			assert.Check(t, is.ErrorContains(err, "refusing to adopt it"))
			assert.Check(t, is.Equal(f.callList(), "inspect:gws-a-b"))
		})
	}
}

func TestEnsureDrift(t *testing.T) {
	cfg := bindConfig(t)
	running := ours("a", cfg, container.StateRunning)
	changed := cfg
	changed.Network = "other"
	changed.Memory = 1 << 30
	changed.Env = []string{"TOKEN=secret"}

	// never: reported, kept, one inspect.
	f := engine(states(&running))
	res, err := NewManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRunning))
	assert.Check(t, is.DeepEqual(res.Drift, []string{"network", "limits", "env"}))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a"))

	// if-changed: replaced.
	changed.Recreate = RecreateIfChanged
	f = engine(states(&running, nil))
	res, err = NewManager(f).Ensure(context.Background(), "a", changed)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRecreated))
	assert.Check(t, is.Len(res.Drift, 0))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest remove:id-gws-a inspect:gws-a image:agent/workspace:latest create:gws-a start:new"))

	// if-changed without drift: kept.
	same := cfg
	same.Recreate = RecreateIfChanged
	f = engine(states(&running))
	res, err = NewManager(f).Ensure(context.Background(), "a", same)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRunning))

	// always: replaced once.
	same.Recreate = RecreateAlways
	f = engine(states(&running, nil))
	res, err = NewManager(f).Ensure(context.Background(), "a", same)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRecreated))
}

// The image a reference names is compared only when that can change what
// Ensure does (recreate, or pull always): a warm ensure stays one inspect.
func TestEnsureImageDrift(t *testing.T) {
	cfg := bindConfig(t)
	running := ours("a", cfg, container.StateRunning)
	f := engine(states(&running))
	f.imageFn = func(string) (image.InspectResponse, error) { return image.InspectResponse{ID: "sha256:2222"}, nil }
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Drift, 0))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a"))

	cfg.Recreate = RecreateIfChanged
	f = engine(states(&running, nil))
	f.imageFn = func(string) (image.InspectResponse, error) { return image.InspectResponse{ID: "sha256:2222"}, nil }
	res, err = NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRecreated))
	assert.Check(t, strings.Contains(f.callList(), "remove:id-gws-a"))
}

func TestEnsureCreatesBind(t *testing.T) {
	cfg := bindConfig(t)
	cfg.Network = "gw-net"
	cfg.User = fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	cfg.NanoCPUs, cfg.Memory, cfg.PidsLimit = 1_500_000_000, 256<<20, 100
	cfg.ReadOnly = true
	cfg.CapDrop, cfg.CapAdd = []string{"ALL"}, []string{"CHOWN"}
	cfg.SecurityOpt = []string{"no-new-privileges"}
	cfg.Labels = map[string]string{"team": "blue"}
	cfg.Env = []string{"A=1"}
	var gotCfg *container.Config
	var gotHC *container.HostConfig
	f := engine(states(nil))
	f.createFn = func(c *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error) {
		gotCfg, gotHC = c, hc
		return container.CreateResponse{ID: "new"}, nil
	}
	m := NewManager(f)
	m.Version = "v9"
	res, err := m.Ensure(context.Background(), "team/alice", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, Result{ID: "new", Name: "gws-team-alice", Subdir: "team/alice", Action: ActionCreated, Mode: ModeBind, Image: DefaultImage}))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-team-alice image:agent/workspace:latest create:gws-team-alice start:new"))

	assert.Check(t, is.Equal(gotCfg.Image, DefaultImage))
	assert.Check(t, is.DeepEqual([]string(gotCfg.Entrypoint), []string{"sleep", "infinity"}))
	assert.Check(t, is.Equal(gotCfg.User, cfg.User))
	assert.Check(t, is.DeepEqual(gotCfg.Env, []string{"A=1"}))
	s := specFor("team/alice", cfg, imgID)
	assert.Check(t, is.DeepEqual(gotCfg.Labels, map[string]string{
		LabelSubdir: "team/alice", LabelMode: "bind", LabelVersion: "v9", "team": "blue",
		LabelConfigHash: s.hash(), LabelConfig: s.json(),
	}))
	assert.Check(t, !strings.Contains(gotCfg.Labels[LabelConfig], "A=1"), "an env value is in a label")
	assert.Check(t, is.Equal(string(gotHC.NetworkMode), "gw-net"))
	assert.Check(t, gotHC.Init != nil && *gotHC.Init)
	assert.Check(t, is.Equal(gotHC.NanoCPUs, int64(1_500_000_000)))
	assert.Check(t, is.Equal(gotHC.Memory, int64(256<<20)))
	assert.Check(t, gotHC.PidsLimit != nil && *gotHC.PidsLimit == 100)
	assert.Check(t, gotHC.ReadonlyRootfs)
	assert.Check(t, is.DeepEqual(gotHC.Tmpfs, map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"}))
	assert.Check(t, is.DeepEqual([]string(gotHC.CapDrop), []string{"ALL"}))
	assert.Check(t, is.DeepEqual([]string(gotHC.CapAdd), []string{"CHOWN"}))
	assert.Check(t, is.DeepEqual(gotHC.SecurityOpt, []string{"no-new-privileges"}))
	realRoot, err := filepath.EvalSymlinks(cfg.WorkspaceRoot)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(gotHC.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(realRoot, "team", "alice"), Target: WorkspaceTarget},
		{Type: mount.TypeBind, Source: cfg.SharedDir, Target: SharedTarget},
	}))
	for _, dir := range []string{filepath.Join(cfg.WorkspaceRoot, "team", "alice"), cfg.SharedDir} {
		fi, err := os.Stat(dir)
		assert.Check(t, err == nil && fi.IsDir(), "%s was not created", dir)
	}
}

// passwdTar is a tar holding one file, as CopyFromContainer returns it.
func passwdTar(t *testing.T, content string) io.ReadCloser {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "passwd", Mode: 0o644, Size: int64(len(content))}))
	_, err := tw.Write([]byte(content))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	return io.NopCloser(&buf)
}

func TestEnsureResolvesNamedUserThroughTheImage(t *testing.T) {
	cfg := bindConfig(t)
	cfg.User = "agent"
	uid, gid := os.Getuid(), os.Getgid()
	f := engine(states(nil))
	f.copyFromFn = func(id, path string) (io.ReadCloser, error) {
		assert.Check(t, is.Equal(id, "helper"))
		return passwdTar(t, fmt.Sprintf("root:x:0:0::/root:/bin/sh\nagent:x:%d:%d::/home/agent:/bin/sh\n", uid, gid)), nil
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest create: copyfrom:/etc/passwd remove:helper create:gws-a start:new"))

	cfg.User = "nobody-here"
	f = engine(states(nil))
	f.copyFromFn = func(string, string) (io.ReadCloser, error) { return passwdTar(t, "root:x:0:0::/root:/bin/sh\n"), nil }
	_, err = NewManager(f).Ensure(context.Background(), "b", cfg)
	assert.Check(t, is.ErrorContains(err, `user "nobody-here": not found in the image's /etc/passwd`))
	assert.Check(t, strings.HasSuffix(f.callList(), "remove:helper"), "the helper was left behind: %s", f.callList())
}

// On a remote engine nothing is made on this machine: a helper container
// makes the missing directories on the engine's host, owned by the
// container's user (API 1.42+, which can create a bind source).
func TestEnsureRemoteBindMakesDirectoriesOnTheEngine(t *testing.T) {
	cfg := bindConfig(t)
	cfg.CreateHostDirs = false
	cfg.User = "1000:1000"
	var helperHC, finalHC *container.HostConfig
	var entries []string
	f := engine(states(nil))
	f.createFn = func(_ *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error) {
		if name == "" {
			helperHC = hc
			return container.CreateResponse{ID: "helper"}, nil
		}
		finalHC = hc
		return container.CreateResponse{ID: "new"}, nil
	}
	f.statFn = func(_, p string) (container.PathStat, error) { return container.PathStat{}, cerrdefs.ErrNotFound }
	f.copyFn = func(_, base string, content io.Reader) error {
		tr := tar.NewReader(content)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(hdr.Uid, 1000))
			entries = append(entries, base+":"+hdr.Name)
		}
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	create := &mount.BindOptions{CreateMountpoint: true}
	assert.Check(t, is.DeepEqual(helperHC.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: cfg.WorkspaceRoot, Target: helperMountPoint, BindOptions: create},
		{Type: mount.TypeBind, Source: filepath.Dir(cfg.SharedDir), Target: helperSharedParent, BindOptions: create},
	}))
	assert.Check(t, is.DeepEqual(entries, []string{helperMountPoint + ":a/", helperSharedParent + ":shared/"}))
	assert.Check(t, is.DeepEqual(finalHC.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(cfg.WorkspaceRoot, "a"), Target: WorkspaceTarget},
		{Type: mount.TypeBind, Source: cfg.SharedDir, Target: SharedTarget},
	}))
	_, err = os.Stat(cfg.WorkspaceRoot)
	assert.Check(t, os.IsNotExist(err), "a remote engine's path was created here")

	// An engine older than API 1.42 cannot create a bind source: no helper.
	f = engine(states(nil))
	f.version = "1.41"
	_, err = NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest create:gws-a start:new"))
}

func TestEnsureRefusesSymlinkEscape(t *testing.T) {
	cfg := bindConfig(t)
	outside := t.TempDir()
	assert.NilError(t, os.MkdirAll(cfg.WorkspaceRoot, 0o755))
	assert.NilError(t, os.Symlink(outside, filepath.Join(cfg.WorkspaceRoot, "evil")))
	f := engine(states(nil))
	_, err := NewManager(f).Ensure(context.Background(), "evil/x", cfg)
	assert.Check(t, is.ErrorContains(err, "outside the workspace root"))
	assert.Check(t, !strings.Contains(f.callList(), "create:"), f.callList())
	_, err = os.Stat(filepath.Join(outside, "x"))
	assert.Check(t, os.IsNotExist(err), "a directory was created outside the root")
}

func TestEnsureCreatesVolumeSubpath(t *testing.T) {
	var created []*container.HostConfig
	var tarHeaders []*tar.Header
	f := engine(states(nil))
	f.createFn = func(_ *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error) {
		created = append(created, hc)
		if name == "" {
			return container.CreateResponse{ID: "helper"}, nil
		}
		return container.CreateResponse{ID: "new"}, nil
	}
	f.statFn = func(_, path string) (container.PathStat, error) {
		if path == helperMountPoint+"/team" {
			return container.PathStat{Mode: os.ModeDir | 0o755}, nil
		}
		return container.PathStat{}, cerrdefs.ErrNotFound
	}
	f.copyFn = func(_, _ string, content io.Reader) error {
		tr := tar.NewReader(content)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			assert.NilError(t, err)
			tarHeaders = append(tarHeaders, hdr)
		}
	}
	cfg := volumeConfig()
	cfg.User = "1000:1000"
	res, err := NewManager(f).Ensure(context.Background(), "team/alice/src", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-team-alice-src image:agent/workspace:latest create: stat:/workspaces/team stat:/workspaces/team/alice "+
		"copy:/workspaces remove:helper create:gws-team-alice-src start:new"))
	// Only the missing directories, owned by the container user: an
	// existing one keeps its owner and mode.
	assert.Assert(t, is.Len(tarHeaders, 2))
	for i, name := range []string{"team/alice/", "team/alice/src/"} {
		assert.Check(t, is.Equal(tarHeaders[i].Name, name))
		assert.Check(t, is.Equal(tarHeaders[i].Typeflag, byte(tar.TypeDir)))
		assert.Check(t, is.Equal(tarHeaders[i].Uid, 1000))
		assert.Check(t, is.Equal(tarHeaders[i].Gid, 1000))
	}
	assert.Assert(t, is.Len(created, 2))
	assert.Check(t, is.Equal(string(created[0].NetworkMode), "none"))
	assert.Check(t, is.DeepEqual(created[1].Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "ws", Target: WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "team/alice/src", NoCopy: true}},
		{Type: mount.TypeVolume, Source: "sh", Target: SharedTarget},
	}))
}

func TestEnsureRefusesSubpathOnOldEngine(t *testing.T) {
	f := engine(states(nil))
	f.version = "1.41"
	_, err := NewManager(f).Ensure(context.Background(), "a", volumeConfig())
	assert.Check(t, is.ErrorContains(err, "needs Docker Engine API 1.45"))
	assert.Check(t, is.ErrorContains(err, "API 1.41"))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a"), "something was created")
}

func TestEnsureRefusesBadInputBeforeAnyCall(t *testing.T) {
	f := &fakeClient{}
	m := NewManager(f)
	_, err := m.Ensure(context.Background(), "../etc", bindConfig(t))
	assert.Check(t, is.ErrorIs(err, ErrInvalidSubdir))
	for _, tc := range []struct {
		mutate func(*Config)
		err    string
	}{
		{func(c *Config) { c.Mode, c.WorkspaceVolume, c.SharedVolume = ModeVolumeSubpath, "ws", "" }, "needs both a workspace volume and a shared volume"},
		{func(c *Config) { c.WorkspaceRoot = "relative" }, "absolute workspace root"},
		{func(c *Config) { c.Labels = map[string]string{LabelSubdir: "x"} }, "reserved"},
		{func(c *Config) { c.Env = []string{"NOVALUE"} }, "must be KEY=VALUE"},
		{func(c *Config) { c.Memory = -1 }, "must not be negative"},
		{func(c *Config) { c.Recreate = "sometimes" }, "invalid recreate policy"},
	} {
		cfg := bindConfig(t)
		tc.mutate(&cfg)
		_, err = m.Ensure(context.Background(), "a", cfg)
		assert.Check(t, is.ErrorContains(err, tc.err))
	}
	assert.Check(t, is.Equal(f.callList(), ""))
}

func missingImageClient(pullErr error) *fakeClient {
	pulled := false
	f := engine(states(nil))
	f.imageFn = func(string) (image.InspectResponse, error) {
		if !pulled {
			return image.InspectResponse{}, cerrdefs.ErrNotFound
		}
		return image.InspectResponse{ID: imgID}, nil
	}
	f.pullFn = func(string) (io.ReadCloser, error) {
		if pullErr != nil {
			return nil, pullErr
		}
		pulled = true
		return io.NopCloser(strings.NewReader(`{"status":"Pulling from agent/workspace"}` + "\n")), nil
	}
	return f
}

func TestEnsurePullsMissingImage(t *testing.T) {
	f := missingImageClient(nil)
	res, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest pull:agent/workspace:latest image:agent/workspace:latest create:gws-a start:new"))
}

func TestEnsurePullFailureNamesImage(t *testing.T) {
	f := missingImageClient(errors.New("dial tcp: lookup registry: no such host"))
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, "pull image agent/workspace:latest: dial tcp: lookup registry: no such host"))
	assert.Check(t, !strings.Contains(f.callList(), "create:"))
}

func TestEnsurePullNever(t *testing.T) {
	f := missingImageClient(nil)
	cfg := bindConfig(t)
	cfg.Pull = PullNever
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, `image agent/workspace:latest is not on the engine and the pull policy is "never"`))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a image:agent/workspace:latest"))
}

func TestEnsurePullAlwaysPullsFirst(t *testing.T) {
	cfg := bindConfig(t)
	cfg.Pull = PullAlways
	f := missingImageClient(nil)
	f.inspectFn = states(ptr(ours("a", cfg, container.StateRunning)))
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.callList(), "pull:agent/workspace:latest inspect:gws-a image:agent/workspace:latest"))
}

func TestEnsureCreateErrorIsReturned(t *testing.T) {
	f := engine(states(nil))
	f.createFn = func(*container.Config, *container.HostConfig, string) (container.CreateResponse, error) {
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("network gw-net not found")
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, "create container gws-a: network gw-net not found"))
}

type bufferStream struct{ strings.Builder }

func (*bufferStream) FD() uintptr      { return 0 }
func (*bufferStream) IsTerminal() bool { return false }

func TestPullProgressIsRendered(t *testing.T) {
	f := missingImageClient(nil)
	out := &bufferStream{}
	m := NewManager(f)
	m.PullOutput = out
	var authFor string
	m.RegistryAuth = func(_ context.Context, ref string) (string, error) { authFor = ref; return "token", nil }
	_, err := m.Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out.String(), "Pulling from agent/workspace\n"))
	assert.Check(t, is.Equal(authFor, DefaultImage))
}

func TestPullErrorInStreamIsReturned(t *testing.T) {
	f := missingImageClient(nil)
	f.pullFn = func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n")), nil
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, "pull image agent/workspace:latest: manifest unknown"))
}
