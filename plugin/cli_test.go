package plugin

import (
	"bytes"

	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
)

// fakeAPI is the engine of the plugin tests. A call without a function
// field panics on the nil embedded interface.
type fakeAPI struct {
	client.APIClient

	inspectFn func(name string) (container.InspectResponse, error)
	createFn  func(cfg *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error)
	startFn   func(id string) error
	stopFn    func(id string, opts container.StopOptions) error
	listFn    func(opts container.ListOptions) ([]container.Summary, error)
	removeFn  func(id string, opts container.RemoveOptions) error

	mu            sync.Mutex
	calls         []string
	made          []*madeContainer // by creatingAPI: what ContainerList lists, when listFn is nil
	missing       map[string]bool  // images the engine lacks
	networks      []network.Summary
	onCreateNet   func(*network.NetworkingConfig)
	volumeListErr error
}

func (f *fakeAPI) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	f.record("volumes")
	return volume.ListResponse{}, f.volumeListErr
}

// madeContainer is a container that a creatingAPI made.
type madeContainer struct {
	id, name string
	labels   map[string]string
}

func (f *fakeAPI) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// ImageInspect: every image exists, with one ID, but those in missing
// (until pulled).
func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.record("image:" + ref)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing[ref] {
		return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	return image.InspectResponse{ID: "sha256:1111"}, nil
}

func (f *fakeAPI) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.record("pull:" + ref)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.missing, ref)
	return io.NopCloser(strings.NewReader(`{"status":"Pulling ` + ref + `"}` + "\n")), nil
}

func (f *fakeAPI) ContainerRemove(_ context.Context, id string, opts container.RemoveOptions) error {
	f.record("remove:" + id)
	if f.removeFn != nil {
		return f.removeFn(id, opts)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.made {
		if c.id == id {
			f.made = append(f.made[:i], f.made[i+1:]...)
			return nil
		}
	}
	return cerrdefs.ErrNotFound
}

func (f *fakeAPI) Ping(context.Context) (types.Ping, error) {
	return types.Ping{APIVersion: "1.51"}, nil
}
func (f *fakeAPI) NegotiateAPIVersionPing(types.Ping) {}
func (f *fakeAPI) ClientVersion() string              { return "1.51" }

func (f *fakeAPI) ContainerInspect(_ context.Context, name string) (container.InspectResponse, error) {
	f.record("inspect:" + name)
	if f.inspectFn == nil {
		return container.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return f.inspectFn(name)
}

func (f *fakeAPI) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.record("create:" + name)
	if f.onCreateNet != nil {
		f.onCreateNet(nc)
	}
	return f.createFn(cfg, hc, name)
}

func (f *fakeAPI) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.record("start:" + id)
	return f.startFn(id)
}

func (f *fakeAPI) ContainerStop(_ context.Context, id string, opts container.StopOptions) error {
	f.record("stop:" + id)
	return f.stopFn(id, opts)
}

func (f *fakeAPI) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.record("list")
	if f.listFn != nil {
		return f.listFn(opts)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for _, c := range f.made {
		out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Labels: c.labels, State: container.StateCreated})
	}
	return out, nil
}

// NetworkList: the networks of the fake, those whose labels match.
func (f *fakeAPI) NetworkList(_ context.Context, opts network.ListOptions) ([]network.Summary, error) {
	f.record("networks")
	var out []network.Summary
	for _, n := range f.networks {
		ok := true
		for _, l := range opts.Filters.Get("label") {
			k, v, _ := strings.Cut(l, "=")
			ok = ok && n.Labels[k] == v
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// NetworkInspect: every network exists.
func (f *fakeAPI) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	f.record("network:" + name)
	return network.Inspect{Name: name}, nil
}

func (f *fakeAPI) ContainerRename(_ context.Context, id, name string) error {
	f.record("rename:" + id)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.made {
		if c.id == id {
			c.name = name
		}
	}
	return nil
}

// testCLI is a docker CLI over a fake engine, with its own config dir
// (holding configJSON, if any) and none of the caller's environment.
type testCLI struct {
	*command.DockerCli
	out, err *bytes.Buffer
}

func newTestCLI(t *testing.T, api client.APIClient, configJSON string) *testCLI {
	t.Helper()
	exit = func(int) {} // the StatusError is returned to the test instead
	for _, env := range os.Environ() {
		if k, _, _ := strings.Cut(env, "="); strings.HasPrefix(k, "GATEWAY_") || strings.HasPrefix(k, "DOCKER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	configDir := t.TempDir()
	if configJSON != "" {
		assert.NilError(t, os.WriteFile(filepath.Join(configDir, "config.json"), []byte(configJSON), 0o600))
	}
	out, errb := new(bytes.Buffer), new(bytes.Buffer)
	dockerCLI, err := command.NewDockerCli(
		command.WithAPIClient(api),
		command.WithInputStream(io.NopCloser(strings.NewReader(""))),
		command.WithOutputStream(out),
		command.WithErrorStream(errb),
	)
	assert.NilError(t, err)
	opts := flags.NewClientOptions()
	opts.ConfigDir = configDir
	assert.NilError(t, dockerCLI.Initialize(opts))
	return &testCLI{DockerCli: dockerCLI, out: out, err: errb}
}

// run runs `docker workspace ARGS...` under a root command set up as the
// plugin framework sets up its own (docker's usage and help templates), and
// returns its error.
func (c *testCLI) run(args ...string) error {
	root := &cobra.Command{Use: "docker", SilenceErrors: true, SilenceUsage: true, TraverseChildren: true}
	cli.SetupPluginRootCommand(root)
	root.AddCommand(NewRootCommand(c, BuildInfo{Version: "v1.2.3", Commit: "abc"}, args))
	root.SetArgs(append([]string{Name}, args...))
	root.SetOut(c.out)
	root.SetErr(c.err)
	return root.ExecuteContext(context.Background())
}

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		assert.NilError(t, json.Unmarshal([]byte(line), &m), "line %q", line)
		out = append(out, m)
	}
	return out
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
