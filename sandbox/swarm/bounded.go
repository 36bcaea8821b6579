package swarm

import (
	"context"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// managerClient bounds every call to the manager by the Swarm's limits
// (reads by Read, what changes something by Write), and turns the refusal
// of an engine that is no Swarm manager into the one line of checkManager
// (one more call, on that failure only).
type managerClient struct {
	c Client
	s *Swarm
}

// check turns a refusal by an engine that is no manager into checkManager's
// line.
func (m managerClient) check(ctx context.Context, err error) error {
	if err == nil || !enginemsg.NotManager(err) {
		return err
	}
	if merr := m.s.checkManager(ctx); merr != nil {
		return merr
	}
	return err
}

func do[T any](ctx context.Context, m managerClient, write bool, op string, fn func(context.Context) (T, error)) (T, error) {
	d := m.s.limits.Read
	if write {
		d = m.s.limits.Write
	}
	v, err := bounded.Do(ctx, d, op, false, fn)
	return v, m.check(ctx, err)
}

func (m managerClient) Info(ctx context.Context) (system.Info, error) {
	return do(ctx, m, false, "info", m.c.Info)
}

func (m managerClient) ServerVersion(ctx context.Context) (types.Version, error) {
	return do(ctx, m, false, "version", m.c.ServerVersion)
}

func (m managerClient) NodeList(ctx context.Context, o swarmtypes.NodeListOptions) ([]swarmtypes.Node, error) {
	return do(ctx, m, false, "list nodes", func(ctx context.Context) ([]swarmtypes.Node, error) { return m.c.NodeList(ctx, o) })
}

func (m managerClient) ServiceCreate(ctx context.Context, spec swarmtypes.ServiceSpec, o swarmtypes.ServiceCreateOptions) (swarmtypes.ServiceCreateResponse, error) {
	return do(ctx, m, true, "create service "+spec.Name, func(ctx context.Context) (swarmtypes.ServiceCreateResponse, error) {
		return m.c.ServiceCreate(ctx, spec, o)
	})
}

func (m managerClient) ServiceList(ctx context.Context, o swarmtypes.ServiceListOptions) ([]swarmtypes.Service, error) {
	return do(ctx, m, false, "list services", func(ctx context.Context) ([]swarmtypes.Service, error) { return m.c.ServiceList(ctx, o) })
}

func (m managerClient) ServiceUpdate(ctx context.Context, id string, v swarmtypes.Version, spec swarmtypes.ServiceSpec, o swarmtypes.ServiceUpdateOptions) (swarmtypes.ServiceUpdateResponse, error) {
	return do(ctx, m, true, "update service "+spec.Name, func(ctx context.Context) (swarmtypes.ServiceUpdateResponse, error) {
		return m.c.ServiceUpdate(ctx, id, v, spec, o)
	})
}

func (m managerClient) ServiceRemove(ctx context.Context, id string) error {
	_, err := do(ctx, m, true, "remove service "+id, func(ctx context.Context) (struct{}, error) { return struct{}{}, m.c.ServiceRemove(ctx, id) })
	return err
}

func (m managerClient) TaskList(ctx context.Context, o swarmtypes.TaskListOptions) ([]swarmtypes.Task, error) {
	return do(ctx, m, false, "list tasks", func(ctx context.Context) ([]swarmtypes.Task, error) { return m.c.TaskList(ctx, o) })
}

func (m managerClient) NodeUpdate(ctx context.Context, id string, v swarmtypes.Version, spec swarmtypes.NodeSpec) error {
	_, err := do(ctx, m, true, "update node "+id, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.c.NodeUpdate(ctx, id, v, spec)
	})
	return err
}

func (m managerClient) ConfigCreate(ctx context.Context, spec swarmtypes.ConfigSpec) (swarmtypes.ConfigCreateResponse, error) {
	return do(ctx, m, true, "create config "+spec.Name, func(ctx context.Context) (swarmtypes.ConfigCreateResponse, error) {
		return m.c.ConfigCreate(ctx, spec)
	})
}

func (m managerClient) ConfigList(ctx context.Context, o swarmtypes.ConfigListOptions) ([]swarmtypes.Config, error) {
	return do(ctx, m, false, "list configs", func(ctx context.Context) ([]swarmtypes.Config, error) { return m.c.ConfigList(ctx, o) })
}

func (m managerClient) ConfigRemove(ctx context.Context, id string) error {
	_, err := do(ctx, m, true, "remove config "+id, func(ctx context.Context) (struct{}, error) { return struct{}{}, m.c.ConfigRemove(ctx, id) })
	return err
}

func (m managerClient) NetworkInspect(ctx context.Context, name string, o network.InspectOptions) (network.Inspect, error) {
	return do(ctx, m, false, "inspect network "+name, func(ctx context.Context) (network.Inspect, error) { return m.c.NetworkInspect(ctx, name, o) })
}

func (m managerClient) NetworkCreate(ctx context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	return do(ctx, m, true, "create network "+name, func(ctx context.Context) (network.CreateResponse, error) { return m.c.NetworkCreate(ctx, name, o) })
}

func (m managerClient) NetworkRemove(ctx context.Context, name string) error {
	_, err := do(ctx, m, true, "remove network "+name, func(ctx context.Context) (struct{}, error) { return struct{}{}, m.c.NetworkRemove(ctx, name) })
	return err
}

// Events is not bounded: a stream lasts as long as its caller wants it.
func (m managerClient) Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error) {
	return m.c.Events(ctx, options)
}
