package sandboxtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Swarm is a Swarm manager in memory: services, their tasks (a task runs
// at once on a node its constraints allow, unless that node is down), nodes.
type Swarm struct {
	// APIClient answers what the fake does not: a call of it panics.
	client.APIClient

	Mu       sync.Mutex
	State    swarmtypes.LocalNodeState
	Control  bool
	Nodes    []swarmtypes.Node
	Services map[string]*swarmtypes.Service
	Tasks    []swarmtypes.Task
	CallLog  []string
	seq      int
	Engines  map[string]*Engine // by node ID
	Configs  []swarmtypes.Config
	Networks map[string]network.Inspect // Swarm-scoped
	// OnServiceCreate runs first in ServiceCreate (under the lock).
	OnServiceCreate func(spec swarmtypes.ServiceSpec)
	// AfterServiceUpdate runs, locked, after an update took (a concurrent
	// rm can remove the service there: delete(f.Services, id)).
	AfterServiceUpdate func(id string)
}

// NewSwarm is an active Swarm of three ready nodes of Engine 28.5 (n1 to
// n3, hostnames and engine labels sw1 to sw3), each with an engine.
func NewSwarm() *Swarm {
	f := &Swarm{State: swarmtypes.LocalNodeStateActive, Control: true, Services: map[string]*swarmtypes.Service{}, Engines: map[string]*Engine{}}
	f.AddNode("n1", "sw1", "28.5.2", "sw1")
	f.AddNode("n2", "sw2", "28.5.2", "sw2")
	f.AddNode("n3", "sw3", "28.5.2", "sw3")
	return f
}

func (f *Swarm) AddNode(id, host, version, label string) {
	n := swarmtypes.Node{ID: id}
	n.Description.Hostname = host
	n.Description.Engine.EngineVersion = version
	n.Status.State = swarmtypes.NodeStateReady
	n.Spec.Availability = swarmtypes.NodeAvailabilityActive
	if label != "" {
		n.Spec.Labels = map[string]string{sandbox.LabelNodeEngine: label}
	}
	f.Nodes = append(f.Nodes, n)
	f.Engines[id] = NewEngine()
	f.Engines[id].NodeID = id
}

// NetworkInspect answers for the Swarm's networks.
func (f *Swarm) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("network:%s", name)
	if n, ok := f.Networks[name]; ok {
		return n, nil
	}
	return network.Inspect{}, cerrdefs.ErrNotFound.WithMessage("network " + name + " not found")
}

// NetworkCreate makes a Swarm network.
func (f *Swarm) NetworkCreate(_ context.Context, name string, opts network.CreateOptions) (network.CreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("netcreate:%s", name)
	if _, ok := f.Networks[name]; ok {
		// As a Swarm manager says it: no typed conflict.
		return network.CreateResponse{}, cerrdefs.ErrUnknown.WithMessage("rpc error: code = Unknown desc = name conflicts with an existing object")
	}
	if f.Networks == nil {
		f.Networks = map[string]network.Inspect{}
	}
	n := network.Inspect{Name: name, ID: "net-" + name, Driver: opts.Driver, Scope: opts.Scope, Labels: opts.Labels}
	if opts.ConfigFrom != nil {
		n.ConfigFrom = *opts.ConfigFrom
	}
	f.Networks[name] = n
	return network.CreateResponse{ID: n.ID}, nil
}

// NetworkRemove removes a Swarm network, by name or ID.
func (f *Swarm) NetworkRemove(_ context.Context, ref string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for name, n := range f.Networks {
		if name == ref || n.ID == ref {
			f.Record("netrm:%s", name)
			delete(f.Networks, name)
			return nil
		}
	}
	return cerrdefs.ErrNotFound.WithMessage("network " + ref + " not found")
}

func (f *Swarm) ConfigCreate(_ context.Context, spec swarmtypes.ConfigSpec) (swarmtypes.ConfigCreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("configcreate")
	for _, c := range f.Configs {
		if c.Spec.Name == spec.Name {
			return swarmtypes.ConfigCreateResponse{}, cerrdefs.ErrConflict.WithMessage("rpc error: code = AlreadyExists desc = config " + spec.Name + " already exists")
		}
	}
	f.seq++
	c := swarmtypes.Config{ID: fmt.Sprintf("cfg%03d", f.seq), Spec: spec}
	c.CreatedAt = time.Now()
	f.Configs = append(f.Configs, c)
	return swarmtypes.ConfigCreateResponse{ID: c.ID}, nil
}

func (f *Swarm) ConfigList(_ context.Context, opts swarmtypes.ConfigListOptions) ([]swarmtypes.Config, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("configs")
	var out []swarmtypes.Config
	for _, c := range f.Configs {
		if names := opts.Filters.Get("name"); len(names) > 0 && !strings.HasPrefix(c.Spec.Name, names[0]) {
			continue
		}
		if labels := opts.Filters.Get("label"); len(labels) > 0 {
			k, v, hasValue := strings.Cut(labels[0], "=")
			if got, ok := c.Spec.Labels[k]; !ok || hasValue && got != v {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *Swarm) ConfigRemove(_ context.Context, id string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("configrm")
	for i, c := range f.Configs {
		if c.ID == id {
			f.Configs = append(f.Configs[:i], f.Configs[i+1:]...)
			return nil
		}
	}
	return cerrdefs.ErrNotFound
}

func (f *Swarm) Node(id string) *swarmtypes.Node {
	for i := range f.Nodes {
		if f.Nodes[i].ID == id {
			return &f.Nodes[i]
		}
	}
	return nil
}

func (f *Swarm) Record(format string, args ...any) {
	f.CallLog = append(f.CallLog, fmt.Sprintf(format, args...))
}

func (f *Swarm) Calls() string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return strings.Join(f.CallLog, " ")
}

func (f *Swarm) Info(context.Context) (system.Info, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("info")
	var info system.Info
	info.Swarm.LocalNodeState, info.Swarm.ControlAvailable = f.State, f.Control
	return info, nil
}

func (f *Swarm) NodeList(_ context.Context, opts swarmtypes.NodeListOptions) ([]swarmtypes.Node, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("nodes")
	var out []swarmtypes.Node
	for _, n := range f.Nodes {
		if ids := opts.Filters.Get("id"); len(ids) > 0 && ids[0] != n.ID {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func (f *Swarm) NodeUpdate(_ context.Context, id string, _ swarmtypes.Version, spec swarmtypes.NodeSpec) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("nodeupdate:%s", id)
	n := f.Node(id)
	if n == nil {
		return cerrdefs.ErrNotFound
	}
	n.Spec = spec
	return nil
}

func (f *Swarm) ServiceCreate(_ context.Context, spec swarmtypes.ServiceSpec, _ swarmtypes.ServiceCreateOptions) (swarmtypes.ServiceCreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("create:%s", spec.Name)
	if f.OnServiceCreate != nil {
		f.OnServiceCreate(spec)
	}
	for _, n := range spec.TaskTemplate.Networks {
		if _, ok := f.Networks[n.Target]; !ok {
			return swarmtypes.ServiceCreateResponse{}, cerrdefs.ErrInvalidArgument.WithMessage("network " + n.Target + " not found")
		}
	}
	for _, s := range f.Services {
		if s.Spec.Name == spec.Name {
			return swarmtypes.ServiceCreateResponse{}, cerrdefs.ErrConflict.WithMessage("rpc error: code = AlreadyExists desc = name conflicts with an existing object")
		}
	}
	f.seq++
	svc := &swarmtypes.Service{ID: fmt.Sprintf("svc%d", f.seq), Spec: spec}
	svc.Version.Index = 1
	svc.CreatedAt = time.Now()
	f.Services[svc.ID] = svc
	f.Reconcile(svc)
	return swarmtypes.ServiceCreateResponse{ID: svc.ID}, nil
}

func (f *Swarm) ServiceList(_ context.Context, opts swarmtypes.ServiceListOptions) ([]swarmtypes.Service, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("services")
	if f.State != swarmtypes.LocalNodeStateActive || !f.Control {
		return nil, cerrdefs.ErrUnavailable.WithMessage("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.")
	}
	var out []swarmtypes.Service
	for _, s := range f.Services {
		if names := opts.Filters.Get("name"); len(names) > 0 && !strings.HasPrefix(s.Spec.Name, names[0]) {
			continue
		}
		if labels := opts.Filters.Get("label"); len(labels) > 0 {
			if _, ok := s.Spec.Labels[labels[0]]; !ok {
				continue
			}
		}
		c := *s
		if opts.Status {
			c.ServiceStatus = &swarmtypes.ServiceStatus{DesiredTasks: replicas(s)}
			for _, t := range f.Tasks {
				if t.ServiceID == s.ID && t.Status.State == swarmtypes.TaskStateRunning && t.DesiredState == swarmtypes.TaskStateRunning {
					c.ServiceStatus.RunningTasks++
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *Swarm) ServiceUpdate(_ context.Context, id string, v swarmtypes.Version, spec swarmtypes.ServiceSpec, _ swarmtypes.ServiceUpdateOptions) (swarmtypes.ServiceUpdateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("update:%s:%d", spec.Name, replicas(&swarmtypes.Service{Spec: spec}))
	svc := f.Services[id]
	if svc == nil {
		return swarmtypes.ServiceUpdateResponse{}, cerrdefs.ErrNotFound.WithMessage("service " + id + " not found")
	}
	if svc.Version.Index != v.Index {
		return swarmtypes.ServiceUpdateResponse{}, cerrdefs.ErrUnknown.WithMessage("rpc error: code = Unknown desc = update out of sequence")
	}
	svc.Spec, svc.Version.Index = spec, svc.Version.Index+1
	f.Reconcile(svc)
	if f.AfterServiceUpdate != nil {
		f.AfterServiceUpdate(id)
	}
	return swarmtypes.ServiceUpdateResponse{}, nil
}

func (f *Swarm) ServiceRemove(_ context.Context, id string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("rm:%s", id)
	if f.Services[id] == nil {
		return cerrdefs.ErrNotFound
	}
	delete(f.Services, id)
	kept := f.Tasks[:0]
	for _, t := range f.Tasks {
		if t.ServiceID != id {
			kept = append(kept, t)
		}
	}
	f.Tasks = kept
	return nil
}

func (f *Swarm) TaskList(_ context.Context, opts swarmtypes.TaskListOptions) ([]swarmtypes.Task, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("tasks")
	if ids := opts.Filters.Get("service"); len(ids) > 0 && f.Services[ids[0]] == nil {
		return nil, ErrNotFound // as the engine says of a service removed meanwhile
	}
	var out []swarmtypes.Task
	for _, t := range f.Tasks {
		if ids := opts.Filters.Get("service"); len(ids) > 0 && ids[0] != t.ServiceID {
			continue
		}
		if ds := opts.Filters.Get("desired-state"); len(ds) > 0 && ds[0] != string(t.DesiredState) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// reconcile makes the tasks of a service what its spec says: one running
// task of its current template (on a node its constraints allow and that
// is up), or none.
func (f *Swarm) Reconcile(svc *swarmtypes.Service) {
	hash := svc.Spec.TaskTemplate.ContainerSpec.Labels[sandbox.LabelConfigHash]
	force := svc.Spec.TaskTemplate.ForceUpdate
	current := false
	for i := range f.Tasks {
		t := &f.Tasks[i]
		if t.ServiceID != svc.ID || t.DesiredState != swarmtypes.TaskStateRunning {
			continue
		}
		if replicas(svc) == 0 || t.Spec.ContainerSpec.Labels[sandbox.LabelConfigHash] != hash || t.Spec.ForceUpdate != force {
			t.DesiredState = swarmtypes.TaskStateShutdown
			if n := f.Node(t.NodeID); n == nil || n.Status.State != swarmtypes.NodeStateDown {
				t.Status.State = swarmtypes.TaskStateShutdown
			}
			continue
		}
		current = true
	}
	if current || replicas(svc) == 0 {
		return
	}
	f.seq++
	t := swarmtypes.Task{ID: fmt.Sprintf("task%d", f.seq), ServiceID: svc.ID, Spec: svc.Spec.TaskTemplate, DesiredState: swarmtypes.TaskStateRunning}
	t.Meta.CreatedAt = time.Now().Add(time.Duration(f.seq))
	t.Status.State = swarmtypes.TaskStatePending
	t.Status.Timestamp = time.Now()
	for _, n := range f.Nodes {
		labels := map[string]map[string]string{}
		for _, m := range f.Nodes {
			labels[m.ID] = m.Spec.Labels
		}
		if n.Status.State == swarmtypes.NodeStateReady && allows(svc.Spec.TaskTemplate.Placement, n.ID, labels) {
			t.NodeID = n.ID
			t.Status.State = swarmtypes.TaskStateRunning
			t.Status.ContainerStatus = &swarmtypes.ContainerStatus{ContainerID: "ctr-" + t.ID}
			break
		}
	}
	if t.NodeID == "" {
		t.Status.Err = "no suitable node"
	}
	f.Tasks = append(f.Tasks, t)
}

func allows(p *swarmtypes.Placement, node string, labels map[string]map[string]string) bool {
	if p == nil {
		return true
	}
	for _, c := range p.Constraints {
		if id, ok := strings.CutPrefix(c, "node.id=="); ok && id != node {
			return false
		}
		if id, ok := strings.CutPrefix(c, "node.id!="); ok && id == node {
			return false
		}
		if kv, ok := strings.CutPrefix(c, "node.labels."); ok {
			k, v, _ := strings.Cut(kv, "==")
			if labels[node][k] != v {
				return false
			}
		}
	}
	return true
}

// ServerVersion answers as the manager's Engine 28.5 does.
func (f *Swarm) ServerVersion(context.Context) (types.Version, error) {
	return types.Version{Version: "28.5.2", APIVersion: "1.51", Os: "linux"}, nil
}

func replicas(svc *swarmtypes.Service) uint64 {
	if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
		return 0
	}
	return *svc.Spec.Mode.Replicated.Replicas
}

// NodeEngine is the engine of the node a label names (its hostname): how a
// Swarm made by a test reaches a node's own engine.
func (f *Swarm) NodeEngine(_ context.Context, n swarmtypes.Node, label string) (sandbox.Client, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, m := range f.Nodes {
		if m.Description.Hostname == label && (n.ID == "" || n.ID == m.ID) {
			return f.Engines[m.ID], nil
		}
	}
	return nil, fmt.Errorf("label %q is not node %s's", label, n.ID)
}

// Ping, NegotiateAPIVersionPing and ClientVersion answer the docker CLI as
// an engine of API 1.51.
func (f *Swarm) Ping(context.Context) (types.Ping, error) { return types.Ping{APIVersion: "1.51"}, nil }

// NegotiateAPIVersionPing keeps the fake's version.
func (f *Swarm) NegotiateAPIVersionPing(types.Ping) {}

// ClientVersion is the fake's API version.
func (f *Swarm) ClientVersion() string { return "1.51" }
