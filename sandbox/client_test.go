package sandbox

import (
	"context"

	"io"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeClient answers with its function fields and records the calls made.
// A call without a field panics on the nil embedded interface.
type fakeClient struct {
	Client
	version string

	createFn   func(cfg *container.Config, hc *container.HostConfig, name string) (container.CreateResponse, error)
	inspectFn  func(name string) (container.InspectResponse, error)
	listFn     func(opts container.ListOptions) ([]container.Summary, error)
	startFn    func(id string) error
	stopFn     func(id string, opts container.StopOptions) error
	unpauseFn  func(id string) error
	removeFn   func(id string) error
	waitFn     func(id string) error
	copyFromFn func(id, path string) (io.ReadCloser, error)
	statFn     func(id, path string) (container.PathStat, error)
	copyFn     func(id, path string, content io.Reader) error
	imageFn    func(ref string) (image.InspectResponse, error)
	pullFn     func(ref string) (io.ReadCloser, error)

	volumes  []volume.Volume   // what VolumeList and VolumeInspect see
	networks []network.Summary // what NetworkList and NetworkInspect see

	mu    sync.Mutex
	calls []string
}

func (f *fakeClient) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeClient) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func (f *fakeClient) ClientVersion() string {
	if f.version == "" {
		return "1.51"
	}
	return f.version
}

func (f *fakeClient) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.record("create:" + name)
	return f.createFn(cfg, hc, name)
}

func (f *fakeClient) ContainerInspect(_ context.Context, name string) (container.InspectResponse, error) {
	f.record("inspect:" + name)
	return f.inspectFn(name)
}

func (f *fakeClient) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.record("list")
	return f.listFn(opts)
}

func (f *fakeClient) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.record("start:" + id)
	return f.startFn(id)
}

func (f *fakeClient) ContainerStop(_ context.Context, id string, opts container.StopOptions) error {
	f.record("stop:" + id)
	return f.stopFn(id, opts)
}

func (f *fakeClient) ContainerUnpause(_ context.Context, id string) error {
	f.record("unpause:" + id)
	return f.unpauseFn(id)
}

func (f *fakeClient) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.record("remove:" + id)
	return f.removeFn(id)
}

func (f *fakeClient) ContainerWait(_ context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.record("wait:" + id)
	done, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	if err := f.waitFn(id); err != nil {
		errs <- err
	} else {
		done <- container.WaitResponse{}
	}
	return done, errs
}

func (f *fakeClient) CopyFromContainer(_ context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	f.record("copyfrom:" + path)
	rc, err := f.copyFromFn(id, path)
	return rc, container.PathStat{}, err
}

func (f *fakeClient) ContainerStatPath(_ context.Context, id, path string) (container.PathStat, error) {
	f.record("stat:" + path)
	return f.statFn(id, path)
}

func (f *fakeClient) CopyToContainer(_ context.Context, id, path string, content io.Reader, _ container.CopyToContainerOptions) error {
	f.record("copy:" + path)
	return f.copyFn(id, path, content)
}

func (f *fakeClient) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.record("image:" + ref)
	return f.imageFn(ref)
}

func (f *fakeClient) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.record("pull:" + ref)
	return f.pullFn(ref)
}

func (f *fakeClient) VolumeList(_ context.Context, opts volume.ListOptions) (volume.ListResponse, error) {
	f.record("volumes")
	var out volume.ListResponse
	for _, v := range f.volumes {
		if matchLabels(opts.Filters.Get("label"), v.Labels) {
			out.Volumes = append(out.Volumes, &v)
		}
	}
	return out, nil
}

func (f *fakeClient) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	f.record("volume:" + name)
	for _, v := range f.volumes {
		if v.Name == name {
			return v, nil
		}
	}
	return volume.Volume{}, cerrdefs.ErrNotFound
}

func (f *fakeClient) NetworkList(_ context.Context, opts network.ListOptions) ([]network.Summary, error) {
	f.record("networks")
	var out []network.Summary
	for _, n := range f.networks {
		if matchLabels(opts.Filters.Get("label"), n.Labels) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeClient) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	f.record("network:" + name)
	for _, n := range f.networks {
		if n.Name == name {
			return n, nil
		}
	}
	return network.Inspect{}, cerrdefs.ErrNotFound
}

// matchLabels applies label filters ("k=v") as the engine does: all must match.
func matchLabels(filters []string, labels map[string]string) bool {
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		if labels[k] != v {
			return false
		}
	}
	return true
}
