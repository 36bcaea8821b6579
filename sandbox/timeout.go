package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultTimeout bounds each engine call that changes something (create,
// start, remove, copy…); calls that only read (inspect, list, version) get a
// third of it. A pull is not bounded: it takes as long as the image takes.
const DefaultTimeout = 60 * time.Second

// TimeoutError is the error of an engine call that got no answer in time.
type TimeoutError struct {
	Op    string // what was asked, e.g. "inspect container gws-a"
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the engine did not answer (%s) within %s", e.Op, e.After)
}

// Is makes a TimeoutError match context.DeadlineExceeded too.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// boundedClient bounds every call of the client it wraps by the manager's
// Timeout, and turns a deadline into a TimeoutError naming the call.
type boundedClient struct {
	c Client
	m *Manager
}

func (b boundedClient) limits() (read, write time.Duration) {
	w := b.m.Timeout
	if w <= 0 {
		w = DefaultTimeout
	}
	return max(w/3, time.Second), w
}

func (b boundedClient) read() time.Duration  { r, _ := b.limits(); return r }
func (b boundedClient) write() time.Duration { _, w := b.limits(); return w }

// bounded runs fn with a deadline of d. With keep, a ReadCloser result
// keeps the deadline's context until it is closed (a stream).
func bounded[T any](ctx context.Context, d time.Duration, op string, keep bool, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	handedOver := false
	defer func() {
		if !handedOver {
			cancel()
		}
	}()
	v, err := fn(cctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
			err = &TimeoutError{Op: op, After: d}
		}
		return v, err
	}
	if rc, ok := any(v).(io.ReadCloser); ok && keep {
		handedOver = true
		return any(cancelOnClose{rc, cancel}).(T), nil
	}
	return v, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}

func noValue(fn func(context.Context) error) func(context.Context) (struct{}, error) {
	return func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }
}

func (b boundedClient) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error) {
	return bounded(ctx, b.write(), "create container "+name, false, func(ctx context.Context) (container.CreateResponse, error) {
		return b.c.ContainerCreate(ctx, config, hostConfig, networkingConfig, platform, name)
	})
}

func (b boundedClient) ContainerInspect(ctx context.Context, name string) (container.InspectResponse, error) {
	return bounded(ctx, b.read(), "inspect container "+name, false, func(ctx context.Context) (container.InspectResponse, error) {
		return b.c.ContainerInspect(ctx, name)
	})
}

func (b boundedClient) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	return bounded(ctx, b.read(), "list containers", false, func(ctx context.Context) ([]container.Summary, error) {
		return b.c.ContainerList(ctx, options)
	})
}

func (b boundedClient) ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error {
	_, err := bounded(ctx, b.write(), "remove container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.ContainerRemove(ctx, id, options)
	}))
	return err
}

func (b boundedClient) ContainerRename(ctx context.Context, id, newName string) error {
	_, err := bounded(ctx, b.write(), "rename container "+short(id)+" to "+newName, false, noValue(func(ctx context.Context) error {
		return b.c.ContainerRename(ctx, id, newName)
	}))
	return err
}

func (b boundedClient) ContainerRestart(ctx context.Context, id string, options container.StopOptions) error {
	d := b.write()
	if options.Timeout != nil && *options.Timeout > 0 {
		d += time.Duration(*options.Timeout) * time.Second
	}
	_, err := bounded(ctx, d, "restart container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.ContainerRestart(ctx, id, options)
	}))
	return err
}

func (b boundedClient) ContainerTop(ctx context.Context, id string, args []string) (container.TopResponse, error) {
	return bounded(ctx, b.read(), "list the processes of container "+short(id), false, func(ctx context.Context) (container.TopResponse, error) {
		return b.c.ContainerTop(ctx, id, args)
	})
}

func (b boundedClient) ContainerStatsOneShot(ctx context.Context, id string) (container.StatsResponseReader, error) {
	body, err := bounded(ctx, b.read(), "read the stats of container "+short(id), true, func(ctx context.Context) (io.ReadCloser, error) {
		r, err := b.c.ContainerStatsOneShot(ctx, id)
		return r.Body, err
	})
	return container.StatsResponseReader{Body: body}, err
}

func (b boundedClient) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspect, error) {
	return bounded(ctx, b.read(), "inspect exec "+short(id), false, func(ctx context.Context) (container.ExecInspect, error) {
		return b.c.ContainerExecInspect(ctx, id)
	})
}

func (b boundedClient) ContainerStart(ctx context.Context, id string, options container.StartOptions) error {
	_, err := bounded(ctx, b.write(), "start container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.ContainerStart(ctx, id, options)
	}))
	return err
}

func (b boundedClient) ContainerStop(ctx context.Context, id string, options container.StopOptions) error {
	d := b.write()
	if options.Timeout != nil && *options.Timeout > 0 {
		d += time.Duration(*options.Timeout) * time.Second
	}
	_, err := bounded(ctx, d, "stop container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.ContainerStop(ctx, id, options)
	}))
	return err
}

func (b boundedClient) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	return bounded(ctx, b.read(), "stat "+path+" in container "+short(id), false, func(ctx context.Context) (container.PathStat, error) {
		return b.c.ContainerStatPath(ctx, id, path)
	})
}

func (b boundedClient) ContainerUnpause(ctx context.Context, id string) error {
	_, err := bounded(ctx, b.write(), "unpause container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.ContainerUnpause(ctx, id)
	}))
	return err
}

// ContainerWait is bounded by its caller.
func (b boundedClient) ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	return b.c.ContainerWait(ctx, id, condition)
}

func (b boundedClient) CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error) {
	var stat container.PathStat
	rc, err := bounded(ctx, b.write(), "copy "+srcPath+" from container "+short(id), true, func(ctx context.Context) (io.ReadCloser, error) {
		var rc io.ReadCloser
		var err error
		rc, stat, err = b.c.CopyFromContainer(ctx, id, srcPath)
		return rc, err
	})
	return rc, stat, err
}

func (b boundedClient) CopyToContainer(ctx context.Context, id, path string, content io.Reader, options container.CopyToContainerOptions) error {
	_, err := bounded(ctx, b.write(), "copy to "+path+" in container "+short(id), false, noValue(func(ctx context.Context) error {
		return b.c.CopyToContainer(ctx, id, path, content, options)
	}))
	return err
}

func (b boundedClient) NetworkInspect(ctx context.Context, name string, options network.InspectOptions) (network.Inspect, error) {
	return bounded(ctx, b.read(), "inspect network "+name, false, func(ctx context.Context) (network.Inspect, error) {
		return b.c.NetworkInspect(ctx, name, options)
	})
}

func (b boundedClient) NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error) {
	return bounded(ctx, b.read(), "list networks", false, func(ctx context.Context) ([]network.Summary, error) {
		return b.c.NetworkList(ctx, options)
	})
}

func (b boundedClient) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return bounded(ctx, b.read(), "inspect volume "+name, false, func(ctx context.Context) (volume.Volume, error) {
		return b.c.VolumeInspect(ctx, name)
	})
}

func (b boundedClient) VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error) {
	return bounded(ctx, b.read(), "list volumes", false, func(ctx context.Context) (volume.ListResponse, error) {
		return b.c.VolumeList(ctx, options)
	})
}

func (b boundedClient) ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	return bounded(ctx, b.read(), "inspect image "+ref, false, func(ctx context.Context) (image.InspectResponse, error) {
		return b.c.ImageInspect(ctx, ref, opts...)
	})
}

// ImagePull is not bounded: a pull takes as long as the image takes.
func (b boundedClient) ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error) {
	return b.c.ImagePull(ctx, ref, options)
}

func (b boundedClient) ServerVersion(ctx context.Context) (types.Version, error) {
	return bounded(ctx, b.read(), "version", false, func(ctx context.Context) (types.Version, error) {
		return b.c.ServerVersion(ctx)
	})
}

func (b boundedClient) ClientVersion() string { return b.c.ClientVersion() }

// short is an ID cut as docker prints it; a name stays whole.
func short(id string) string {
	if len(id) == 64 {
		return id[:12]
	}
	return id
}
