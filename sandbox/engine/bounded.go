package engine

import (
	"context"
	"io"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
)

// boundedClient bounds every call of the client it wraps (reads by
// limits.Read, what changes something by limits.Write), and turns a
// deadline into a *sandbox.TimeoutError naming the call, an engine that
// cannot be reached into a *sandbox.UnreachableError.
type boundedClient struct {
	c      sandbox.Client
	limits bounded.Limits
}

func (b boundedClient) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig,
	platform *ocispec.Platform, name string,
) (container.CreateResponse, error) {
	return bounded.Do(ctx, b.limits.Write, "create container "+name, false, func(ctx context.Context) (container.CreateResponse, error) {
		return b.c.ContainerCreate(ctx, config, hostConfig, networkingConfig, platform, name)
	})
}

func (b boundedClient) ContainerInspect(ctx context.Context, name string) (container.InspectResponse, error) {
	return bounded.Do(ctx, b.limits.Read, "inspect container "+name, false, func(ctx context.Context) (container.InspectResponse, error) {
		return b.c.ContainerInspect(ctx, name)
	})
}

func (b boundedClient) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	return bounded.Do(ctx, b.limits.Read, "list containers", false, func(ctx context.Context) ([]container.Summary, error) {
		return b.c.ContainerList(ctx, options)
	})
}

func (b boundedClient) ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error {
	return bounded.Run(ctx, b.limits.Write, "remove container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerRemove(ctx, id, options)
	})
}

func (b boundedClient) ContainerRename(ctx context.Context, id, newName string) error {
	return bounded.Run(ctx, b.limits.Write, "rename container "+short(id)+" to "+newName, func(ctx context.Context) error {
		return b.c.ContainerRename(ctx, id, newName)
	})
}

func (b boundedClient) ContainerRestart(ctx context.Context, id string, options container.StopOptions) error {
	d := b.limits.Write
	if options.Timeout != nil && *options.Timeout > 0 {
		d += time.Duration(*options.Timeout) * time.Second
	}
	return bounded.Run(ctx, d, "restart container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerRestart(ctx, id, options)
	})
}

func (b boundedClient) ContainerTop(ctx context.Context, id string, args []string) (container.TopResponse, error) {
	return bounded.Do(ctx, b.limits.Read, "list the processes of container "+short(id), false, func(ctx context.Context) (container.TopResponse, error) {
		return b.c.ContainerTop(ctx, id, args)
	})
}

func (b boundedClient) ContainerStatsOneShot(ctx context.Context, id string) (container.StatsResponseReader, error) {
	body, err := bounded.Do(ctx, b.limits.Read, "read the stats of container "+short(id), true, func(ctx context.Context) (io.ReadCloser, error) {
		r, err := b.c.ContainerStatsOneShot(ctx, id)
		return r.Body, err
	})
	return container.StatsResponseReader{Body: body}, err
}

func (b boundedClient) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspect, error) {
	return bounded.Do(ctx, b.limits.Read, "inspect exec "+short(id), false, func(ctx context.Context) (container.ExecInspect, error) {
		return b.c.ContainerExecInspect(ctx, id)
	})
}

func (b boundedClient) ContainerStart(ctx context.Context, id string, options container.StartOptions) error {
	return bounded.Run(ctx, b.limits.Write, "start container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerStart(ctx, id, options)
	})
}

func (b boundedClient) ContainerStop(ctx context.Context, id string, options container.StopOptions) error {
	d := b.limits.Write
	if options.Timeout != nil && *options.Timeout > 0 {
		d += time.Duration(*options.Timeout) * time.Second
	}
	return bounded.Run(ctx, d, "stop container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerStop(ctx, id, options)
	})
}

func (b boundedClient) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	return bounded.Do(ctx, b.limits.Read, "stat "+path+" in container "+short(id), false, func(ctx context.Context) (container.PathStat, error) {
		return b.c.ContainerStatPath(ctx, id, path)
	})
}

func (b boundedClient) ContainerUpdate(ctx context.Context, id string, cfg container.UpdateConfig) (container.UpdateResponse, error) {
	return bounded.Do(ctx, b.limits.Write, "update container "+short(id), false, func(ctx context.Context) (container.UpdateResponse, error) {
		return b.c.ContainerUpdate(ctx, id, cfg)
	})
}

func (b boundedClient) ContainerPause(ctx context.Context, id string) error {
	return bounded.Run(ctx, b.limits.Write, "pause container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerPause(ctx, id)
	})
}

func (b boundedClient) ContainerUnpause(ctx context.Context, id string) error {
	return bounded.Run(ctx, b.limits.Write, "unpause container "+short(id), func(ctx context.Context) error {
		return b.c.ContainerUnpause(ctx, id)
	})
}

// ContainerWait is bounded by its caller.
func (b boundedClient) ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	return b.c.ContainerWait(ctx, id, condition)
}

func (b boundedClient) CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error) {
	var stat container.PathStat
	rc, err := bounded.Do(ctx, b.limits.Write, "copy "+srcPath+" from container "+short(id), true, func(ctx context.Context) (io.ReadCloser, error) {
		var rc io.ReadCloser
		var err error
		rc, stat, err = b.c.CopyFromContainer(ctx, id, srcPath)
		return rc, err
	})
	return rc, stat, err
}

func (b boundedClient) CopyToContainer(ctx context.Context, id, path string, content io.Reader, options container.CopyToContainerOptions) error {
	return bounded.Run(ctx, b.limits.Write, "copy to "+path+" in container "+short(id), func(ctx context.Context) error {
		return b.c.CopyToContainer(ctx, id, path, content, options)
	})
}

// ContainerLogs is bounded until it answers: a followed log takes as long
// as it is read.
func (b boundedClient) ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error) {
	return bounded.Do(ctx, b.limits.Read, "read the log of container "+short(id), true, func(ctx context.Context) (io.ReadCloser, error) {
		return b.c.ContainerLogs(ctx, id, options)
	})
}

func (b boundedClient) ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error) {
	return bounded.Do(ctx, b.limits.Write, "create an exec in container "+short(id), false, func(ctx context.Context) (container.ExecCreateResponse, error) {
		return b.c.ContainerExecCreate(ctx, id, options)
	})
}

// ContainerExecAttach is bounded by its caller (a stream).
func (b boundedClient) ContainerExecAttach(ctx context.Context, id string, config container.ExecAttachOptions) (types.HijackedResponse, error) {
	return b.c.ContainerExecAttach(ctx, id, config)
}

func (b boundedClient) NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error) {
	return bounded.Do(ctx, b.limits.Write, "create network "+name, false, func(ctx context.Context) (network.CreateResponse, error) {
		return b.c.NetworkCreate(ctx, name, options)
	})
}

func (b boundedClient) NetworkConnect(ctx context.Context, name, id string, config *network.EndpointSettings) error {
	return bounded.Run(ctx, b.limits.Write, "connect container "+short(id)+" to network "+name, func(ctx context.Context) error {
		return b.c.NetworkConnect(ctx, name, id, config)
	})
}

func (b boundedClient) NetworkRemove(ctx context.Context, name string) error {
	return bounded.Run(ctx, b.limits.Write, "remove network "+name, func(ctx context.Context) error {
		return b.c.NetworkRemove(ctx, name)
	})
}

func (b boundedClient) VolumeRemove(ctx context.Context, name string, force bool) error {
	return bounded.Run(ctx, b.limits.Write, "remove volume "+name, func(ctx context.Context) error {
		return b.c.VolumeRemove(ctx, name, force)
	})
}

// ImageLoad is bounded as a write until the engine answers; the load
// itself takes as long as the image takes.
func (b boundedClient) ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error) {
	var resp image.LoadResponse
	body, err := bounded.Do(ctx, b.limits.Write, "load an image", true, func(ctx context.Context) (io.ReadCloser, error) {
		var err error
		resp, err = b.c.ImageLoad(ctx, input, opts...)
		return resp.Body, err
	})
	resp.Body = body
	return resp, err
}

func (b boundedClient) NetworkInspect(ctx context.Context, name string, options network.InspectOptions) (network.Inspect, error) {
	return bounded.Do(ctx, b.limits.Read, "inspect network "+name, false, func(ctx context.Context) (network.Inspect, error) {
		return b.c.NetworkInspect(ctx, name, options)
	})
}

func (b boundedClient) NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error) {
	return bounded.Do(ctx, b.limits.Read, "list networks", false, func(ctx context.Context) ([]network.Summary, error) {
		return b.c.NetworkList(ctx, options)
	})
}

func (b boundedClient) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return bounded.Do(ctx, b.limits.Read, "inspect volume "+name, false, func(ctx context.Context) (volume.Volume, error) {
		return b.c.VolumeInspect(ctx, name)
	})
}

func (b boundedClient) VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error) {
	return bounded.Do(ctx, b.limits.Read, "list volumes", false, func(ctx context.Context) (volume.ListResponse, error) {
		return b.c.VolumeList(ctx, options)
	})
}

func (b boundedClient) ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	return bounded.Do(ctx, b.limits.Read, "inspect image "+ref, false, func(ctx context.Context) (image.InspectResponse, error) {
		return b.c.ImageInspect(ctx, ref, opts...)
	})
}

// ImagePull is not bounded: a pull takes as long as the image takes.
func (b boundedClient) ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error) {
	return b.c.ImagePull(ctx, ref, options)
}

func (b boundedClient) ServerVersion(ctx context.Context) (types.Version, error) {
	return bounded.Do(ctx, b.limits.Read, "version", false, func(ctx context.Context) (types.Version, error) {
		return b.c.ServerVersion(ctx)
	})
}

func (b boundedClient) Info(ctx context.Context) (system.Info, error) {
	return bounded.Do(ctx, b.limits.Read, "info", false, func(ctx context.Context) (system.Info, error) {
		return b.c.Info(ctx)
	})
}

func (b boundedClient) ClientVersion() string { return b.c.ClientVersion() }

// Events is not bounded: a stream lasts as long as its caller wants it.
func (b boundedClient) Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error) {
	return b.c.Events(ctx, options)
}
