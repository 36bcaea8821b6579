package sandbox

import (
	"archive/tar"
	"context"
	"errors"
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

func inspectState(status container.ContainerState) func(string) (container.InspectResponse, error) {
	return func(name string) (container.InspectResponse, error) {
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: "id-" + name, Name: "/" + name, State: &container.State{Status: status}},
			Config:            &container.Config{Image: "img:1", Labels: map[string]string{LabelMode: "bind"}},
		}, nil
	}
}

func notFound(string) (container.InspectResponse, error) {
	return container.InspectResponse{}, errNotFound
}

func TestEnsureExistingStates(t *testing.T) {
	for _, tc := range []struct {
		status container.ContainerState
		action Action
		calls  string
	}{
		{status: container.StateRunning, action: ActionRunning, calls: "inspect:gws-alice"},
		{status: container.StateExited, action: ActionStarted, calls: "inspect:gws-alice start:id-gws-alice"},
		{status: container.StateCreated, action: ActionStarted, calls: "inspect:gws-alice start:id-gws-alice"},
		{status: container.StatePaused, action: ActionUnpaused, calls: "inspect:gws-alice unpause:id-gws-alice"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			f := &fakeClient{
				inspectFn: inspectState(tc.status),
				startFn:   func(string) error { return nil },
				unpauseFn: func(string) error { return nil },
			}
			res, err := NewManager(f).Ensure(context.Background(), "Alice", bindConfig(t))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(res.Action, tc.action))
			assert.Check(t, is.Equal(res.ID, "id-gws-alice"))
			assert.Check(t, is.Equal(res.Name, "gws-alice"))
			assert.Check(t, is.Equal(res.Subdir, "Alice"))
			assert.Check(t, is.Equal(res.Image, "img:1"))
			assert.Check(t, is.Equal(f.callList(), tc.calls))
		})
	}
}

func TestEnsureStartFailureIsReturned(t *testing.T) {
	f := &fakeClient{
		inspectFn: inspectState(container.StateExited),
		startFn:   func(string) error { return errors.New("no space left") },
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.ErrorContains(err, "start container gws-a: no space left"))
}

func TestEnsureCreatesBind(t *testing.T) {
	cfg := bindConfig(t)
	cfg.Network = "gw-net"
	var gotCfg *container.Config
	var gotHC *container.HostConfig
	f := &fakeClient{
		inspectFn: notFound,
		createFn: func(c *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error) {
			gotCfg, gotHC = c, hc
			return container.CreateResponse{ID: "new"}, nil
		},
		startFn: func(string) error { return nil },
	}
	m := NewManager(f)
	m.Version = "v9"
	res, err := m.Ensure(context.Background(), "team/alice", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, Result{ID: "new", Name: "gws-team-alice", Subdir: "team/alice", Action: ActionCreated, Mode: ModeBind, Image: DefaultImage}))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-team-alice create:gws-team-alice start:new"))

	assert.Check(t, is.Equal(gotCfg.Image, DefaultImage))
	assert.Check(t, is.DeepEqual([]string(gotCfg.Entrypoint), []string{"sleep", "infinity"}))
	assert.Check(t, is.DeepEqual(gotCfg.Labels, map[string]string{LabelSubdir: "team/alice", LabelMode: "bind", LabelVersion: "v9"}))
	assert.Check(t, is.Equal(string(gotHC.NetworkMode), "gw-net"))
	assert.Check(t, gotHC.Init != nil && *gotHC.Init)
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

func TestEnsureRemoteBindAsksEngineToCreate(t *testing.T) {
	cfg := bindConfig(t)
	cfg.CreateHostDirs = false
	for version, want := range map[string]*mount.BindOptions{"1.51": {CreateMountpoint: true}, "1.41": nil} {
		var gotHC *container.HostConfig
		f := &fakeClient{
			version:   version,
			inspectFn: notFound,
			createFn: func(_ *container.Config, hc *container.HostConfig, _ string) (container.CreateResponse, error) {
				gotHC = hc
				return container.CreateResponse{ID: "new"}, nil
			},
			startFn: func(string) error { return nil },
		}
		_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(gotHC.Mounts[0].BindOptions, want), "API %s", version)
		assert.Check(t, is.Equal(gotHC.Mounts[0].Source, filepath.Join(cfg.WorkspaceRoot, "a")))
		_, err = os.Stat(cfg.WorkspaceRoot)
		assert.Check(t, os.IsNotExist(err), "a remote engine's path was created here")
	}
}

func TestEnsureRefusesSymlinkEscape(t *testing.T) {
	cfg := bindConfig(t)
	outside := t.TempDir()
	assert.NilError(t, os.MkdirAll(cfg.WorkspaceRoot, 0o755))
	assert.NilError(t, os.Symlink(outside, filepath.Join(cfg.WorkspaceRoot, "evil")))
	f := &fakeClient{inspectFn: notFound}
	_, err := NewManager(f).Ensure(context.Background(), "evil/x", cfg)
	assert.Check(t, is.ErrorContains(err, "outside the workspace root"))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-evil-x"))
	_, err = os.Stat(filepath.Join(outside, "x"))
	assert.Check(t, os.IsNotExist(err), "a directory was created outside the root")
}

func TestEnsureCreatesVolumeSubpath(t *testing.T) {
	var created []*container.HostConfig
	var tarNames []string
	f := &fakeClient{
		inspectFn: notFound,
		createFn: func(_ *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error) {
			created = append(created, hc)
			if name == "" {
				return container.CreateResponse{ID: "helper"}, nil
			}
			return container.CreateResponse{ID: "new"}, nil
		},
		statFn: func(_, path string) (container.PathStat, error) {
			if path == helperMountPoint+"/team" {
				return container.PathStat{Mode: os.ModeDir | 0o755}, nil
			}
			return container.PathStat{}, cerrdefs.ErrNotFound
		},
		copyFn: func(_, _ string, content io.Reader) error {
			tr := tar.NewReader(content)
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					return nil
				}
				assert.NilError(t, err)
				assert.Check(t, is.Equal(hdr.Typeflag, byte(tar.TypeDir)))
				tarNames = append(tarNames, hdr.Name)
			}
		},
		removeFn: func(string) error { return nil },
		startFn:  func(string) error { return nil },
	}
	res, err := NewManager(f).Ensure(context.Background(), "team/alice/src", volumeConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-team-alice-src create: stat:/workspaces/team stat:/workspaces/team/alice "+
		"copy:/workspaces remove:helper create:gws-team-alice-src start:new"))
	// Only the missing directories: an existing one keeps its owner and mode.
	assert.Check(t, is.DeepEqual(tarNames, []string{"team/alice/", "team/alice/src/"}))
	assert.Assert(t, is.Len(created, 2))
	assert.Check(t, is.Equal(string(created[0].NetworkMode), "none"))
	assert.Check(t, is.DeepEqual(created[1].Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "ws", Target: WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "team/alice/src"}},
		{Type: mount.TypeVolume, Source: "sh", Target: SharedTarget},
	}))
}

func TestEnsureRefusesSubpathOnOldEngine(t *testing.T) {
	f := &fakeClient{version: "1.41", inspectFn: notFound}
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
	cfg := volumeConfig()
	cfg.SharedVolume = ""
	_, err = m.Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "needs both a workspace volume and a shared volume"))
	cfg = bindConfig(t)
	cfg.WorkspaceRoot = "relative"
	_, err = m.Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "absolute workspace root"))
	assert.Check(t, is.Equal(f.callList(), ""))
}

func TestEnsureConflictUsesWinner(t *testing.T) {
	inspects := 0
	f := &fakeClient{
		inspectFn: func(name string) (container.InspectResponse, error) {
			inspects++
			if inspects == 1 {
				return notFound(name)
			}
			return inspectState(container.StateRunning)(name)
		},
		createFn: func(*container.Config, *container.HostConfig, string) (container.CreateResponse, error) {
			return container.CreateResponse{}, errConflict
		},
	}
	res, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.ID, "id-gws-a"))
	assert.Check(t, is.Equal(res.Action, ActionRunning))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a create:gws-a inspect:gws-a"))
}

func missingImageClient(pullErr error) *fakeClient {
	pulled := false
	return &fakeClient{
		inspectFn: notFound,
		createFn: func(*container.Config, *container.HostConfig, string) (container.CreateResponse, error) {
			if !pulled {
				return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image")
			}
			return container.CreateResponse{ID: "new"}, nil
		},
		imageFn: func(string) (image.InspectResponse, error) {
			return image.InspectResponse{}, cerrdefs.ErrNotFound
		},
		pullFn: func(string) (io.ReadCloser, error) {
			if pullErr != nil {
				return nil, pullErr
			}
			pulled = true
			return io.NopCloser(strings.NewReader(`{"status":"Pulling from agent/workspace"}` + "\n")), nil
		},
		startFn: func(string) error { return nil },
	}
}

func TestEnsurePullsMissingImage(t *testing.T) {
	f := missingImageClient(nil)
	res, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a create:gws-a image:agent/workspace:latest pull:agent/workspace:latest create:gws-a start:new"))
}

func TestEnsurePullFailureNamesImage(t *testing.T) {
	f := missingImageClient(errors.New("dial tcp: lookup registry: no such host"))
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.Error(err, "pull image agent/workspace:latest: dial tcp: lookup registry: no such host"))
}

func TestEnsurePullNever(t *testing.T) {
	f := missingImageClient(nil)
	cfg := bindConfig(t)
	cfg.Pull = PullNever
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, `image agent/workspace:latest is not on the engine and the pull policy is "never"`))
	assert.Check(t, !strings.Contains(f.callList(), "pull:"), "pulled: %s", f.callList())
}

func TestEnsurePullAlwaysPullsFirst(t *testing.T) {
	f := missingImageClient(nil)
	f.inspectFn = inspectState(container.StateRunning)
	cfg := bindConfig(t)
	cfg.Pull = PullAlways
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.callList(), "pull:agent/workspace:latest inspect:gws-a"))
}

func TestEnsureMissingNetworkIsNotPulled(t *testing.T) {
	f := &fakeClient{
		inspectFn: notFound,
		createFn: func(*container.Config, *container.HostConfig, string) (container.CreateResponse, error) {
			return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("network gw-net not found")
		},
		imageFn: func(string) (image.InspectResponse, error) { return image.InspectResponse{}, nil },
	}
	_, err := NewManager(f).Ensure(context.Background(), "a", bindConfig(t))
	assert.Check(t, is.ErrorContains(err, "network gw-net not found"))
	assert.Check(t, !strings.Contains(f.callList(), "pull:"))
}

func TestStop(t *testing.T) {
	var gotTimeout int
	f := &fakeClient{stopFn: func(id string, opts container.StopOptions) error {
		gotTimeout = *opts.Timeout
		switch id {
		case "gws-gone":
			return errNotFound
		case "gws-stuck":
			return errors.New("permission denied")
		}
		return nil
	}}
	m := NewManager(f)
	found, err := m.Stop(context.Background(), "a", nil)
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Equal(gotTimeout, DefaultStopTimeout))
	three := 3
	found, err = m.Stop(context.Background(), "gone", &three)
	assert.Check(t, !found && err == nil)
	assert.Check(t, is.Equal(gotTimeout, 3))
	_, err = m.Stop(context.Background(), "stuck", nil)
	assert.Check(t, is.ErrorContains(err, "stop container gws-stuck: permission denied"))
	_, err = m.Stop(context.Background(), "/etc", nil)
	assert.Check(t, is.ErrorIs(err, ErrInvalidSubdir))
	assert.Check(t, is.Equal(f.callList(), "stop:gws-a stop:gws-gone stop:gws-stuck"))
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
