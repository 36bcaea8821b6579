package sandbox

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeSwarm is a Swarm manager in memory: services, their tasks (a task runs
// at once on a node its constraints allow, unless that node is down), nodes.
type fakeSwarm struct {
	mu       sync.Mutex
	state    swarm.LocalNodeState
	control  bool
	nodes    []swarm.Node
	services map[string]*swarm.Service
	tasks    []swarm.Task
	calls    []string
	seq      int
	engines  map[string]*fakeEngine // by node ID
	configs  []swarm.Config
}

func newFakeSwarm() *fakeSwarm {
	f := &fakeSwarm{state: swarm.LocalNodeStateActive, control: true, services: map[string]*swarm.Service{}, engines: map[string]*fakeEngine{}}
	f.addNode("n1", "sw1", "28.5.2", "sw1")
	f.addNode("n2", "sw2", "28.5.2", "sw2")
	f.addNode("n3", "sw3", "28.5.2", "sw3")
	return f
}

func (f *fakeSwarm) addNode(id, host, version, label string) {
	n := swarm.Node{ID: id}
	n.Description.Hostname = host
	n.Description.Engine.EngineVersion = version
	n.Status.State = swarm.NodeStateReady
	n.Spec.Availability = swarm.NodeAvailabilityActive
	if label != "" {
		n.Spec.Labels = map[string]string{LabelNodeEngine: label}
	}
	f.nodes = append(f.nodes, n)
	f.engines[id] = newFakeEngine()
	f.engines[id].nodeID = id
}

func (f *fakeSwarm) ConfigCreate(_ context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("configcreate")
	for _, c := range f.configs {
		if c.Spec.Name == spec.Name {
			return swarm.ConfigCreateResponse{}, cerrdefs.ErrConflict.WithMessage("rpc error: code = AlreadyExists desc = config " + spec.Name + " already exists")
		}
	}
	f.seq++
	c := swarm.Config{ID: fmt.Sprintf("cfg%03d", f.seq), Spec: spec}
	c.CreatedAt = time.Now()
	f.configs = append(f.configs, c)
	return swarm.ConfigCreateResponse{ID: c.ID}, nil
}

func (f *fakeSwarm) ConfigList(_ context.Context, opts swarm.ConfigListOptions) ([]swarm.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("configs")
	var out []swarm.Config
	for _, c := range f.configs {
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

func (f *fakeSwarm) ConfigRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("configrm")
	for i, c := range f.configs {
		if c.ID == id {
			f.configs = append(f.configs[:i], f.configs[i+1:]...)
			return nil
		}
	}
	return cerrdefs.ErrNotFound
}

func (f *fakeSwarm) node(id string) *swarm.Node {
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			return &f.nodes[i]
		}
	}
	return nil
}

func (f *fakeSwarm) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSwarm) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func (f *fakeSwarm) manager() *Swarm {
	s := NewSwarm(f)
	s.NodeEngine = func(_ context.Context, n swarm.Node, label string) (Client, error) {
		if label != n.Description.Hostname {
			return nil, fmt.Errorf("label %q is not node %s's", label, n.ID)
		}
		return f.engines[n.ID], nil
	}
	return s
}

func (f *fakeSwarm) Info(context.Context) (system.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("info")
	var info system.Info
	info.Swarm.LocalNodeState, info.Swarm.ControlAvailable = f.state, f.control
	return info, nil
}

func (f *fakeSwarm) NodeList(_ context.Context, opts swarm.NodeListOptions) ([]swarm.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("nodes")
	var out []swarm.Node
	for _, n := range f.nodes {
		if ids := opts.Filters.Get("id"); len(ids) > 0 && ids[0] != n.ID {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeSwarm) NodeUpdate(_ context.Context, id string, _ swarm.Version, spec swarm.NodeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("nodeupdate:%s", id)
	n := f.node(id)
	if n == nil {
		return cerrdefs.ErrNotFound
	}
	n.Spec = spec
	return nil
}

func (f *fakeSwarm) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, _ swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create:%s", spec.Name)
	for _, s := range f.services {
		if s.Spec.Name == spec.Name {
			return swarm.ServiceCreateResponse{}, cerrdefs.ErrConflict.WithMessage("rpc error: code = AlreadyExists desc = name conflicts with an existing object")
		}
	}
	f.seq++
	svc := &swarm.Service{ID: fmt.Sprintf("svc%d", f.seq), Spec: spec}
	svc.Version.Index = 1
	svc.CreatedAt = time.Now()
	f.services[svc.ID] = svc
	f.reconcile(svc)
	return swarm.ServiceCreateResponse{ID: svc.ID}, nil
}

func (f *fakeSwarm) ServiceList(_ context.Context, opts swarm.ServiceListOptions) ([]swarm.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("services")
	if f.state != swarm.LocalNodeStateActive || !f.control {
		return nil, cerrdefs.ErrUnavailable.WithMessage("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.")
	}
	var out []swarm.Service
	for _, s := range f.services {
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
			c.ServiceStatus = &swarm.ServiceStatus{DesiredTasks: replicas(s)}
			for _, t := range f.tasks {
				if t.ServiceID == s.ID && t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning {
					c.ServiceStatus.RunningTasks++
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeSwarm) ServiceUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, _ swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("update:%s:%d", spec.Name, replicas(&swarm.Service{Spec: spec}))
	svc := f.services[id]
	if svc == nil {
		return swarm.ServiceUpdateResponse{}, cerrdefs.ErrNotFound.WithMessage("service " + id + " not found")
	}
	if svc.Version.Index != v.Index {
		return swarm.ServiceUpdateResponse{}, cerrdefs.ErrUnknown.WithMessage("rpc error: code = Unknown desc = update out of sequence")
	}
	svc.Spec, svc.Version.Index = spec, svc.Version.Index+1
	f.reconcile(svc)
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *fakeSwarm) ServiceRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("rm:%s", id)
	if f.services[id] == nil {
		return cerrdefs.ErrNotFound
	}
	delete(f.services, id)
	kept := f.tasks[:0]
	for _, t := range f.tasks {
		if t.ServiceID != id {
			kept = append(kept, t)
		}
	}
	f.tasks = kept
	return nil
}

func (f *fakeSwarm) TaskList(_ context.Context, opts swarm.TaskListOptions) ([]swarm.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("tasks")
	var out []swarm.Task
	for _, t := range f.tasks {
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
func (f *fakeSwarm) reconcile(svc *swarm.Service) {
	hash := svc.Spec.TaskTemplate.ContainerSpec.Labels[LabelConfigHash]
	force := svc.Spec.TaskTemplate.ForceUpdate
	current := false
	for i := range f.tasks {
		t := &f.tasks[i]
		if t.ServiceID != svc.ID || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if replicas(svc) == 0 || t.Spec.ContainerSpec.Labels[LabelConfigHash] != hash || t.Spec.ForceUpdate != force {
			t.DesiredState = swarm.TaskStateShutdown
			if n := f.node(t.NodeID); n == nil || n.Status.State != swarm.NodeStateDown {
				t.Status.State = swarm.TaskStateShutdown
			}
			continue
		}
		current = true
	}
	if current || replicas(svc) == 0 {
		return
	}
	f.seq++
	t := swarm.Task{ID: fmt.Sprintf("task%d", f.seq), ServiceID: svc.ID, Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning}
	t.Meta.CreatedAt = time.Now().Add(time.Duration(f.seq))
	t.Status.State = swarm.TaskStatePending
	t.Status.Timestamp = time.Now()
	for _, n := range f.nodes {
		labels := map[string]map[string]string{}
		for _, m := range f.nodes {
			labels[m.ID] = m.Spec.Labels
		}
		if n.Status.State == swarm.NodeStateReady && allows(svc.Spec.TaskTemplate.Placement, n.ID, labels) {
			t.NodeID = n.ID
			t.Status.State = swarm.TaskStateRunning
			t.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: "ctr-" + t.ID}
			break
		}
	}
	if t.NodeID == "" {
		t.Status.Err = "no suitable node"
	}
	f.tasks = append(f.tasks, t)
}

func allows(p *swarm.Placement, node string, labels map[string]map[string]string) bool {
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

func swarmConfig() Config {
	cfg := volumeConfig()
	cfg.Init = true
	return cfg
}

func init() { swarmPollStep, swarmQuiet = time.Millisecond, 0 }

// A new workspace: its directory is made on the node it is pinned to,
// through that node's engine; its service has one replica, our labels, the
// subpath mount and stop-first updates. A warm ensure is one call.
func TestSwarmEnsureCreatesAPinnedService(t *testing.T) {
	f := newFakeSwarm()
	f.nodes[0].Description.Engine.EngineVersion = "20.10.24+dfsg1" // cannot apply a subpath
	delete(f.nodes[1].Spec.Labels, LabelNodeEngine)                // cannot be reached
	s := f.manager()
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionCreated))
	assert.Check(t, is.Equal(res.Name, "gws-team-a"))
	assert.Check(t, is.Equal(res.Node, "sw3"))
	svc := f.services[res.ID]
	assert.Assert(t, svc != nil)
	assert.Check(t, is.DeepEqual(svc.Spec.TaskTemplate.Placement.Constraints, []string{"node.labels.docker-workspace.subpath==true", "node.id==n3"}))
	// Only the nodes that apply a subpath are labelled so.
	assert.Check(t, is.Equal(f.nodes[0].Spec.Labels[LabelSubpathNode], ""))
	assert.Check(t, is.Equal(f.nodes[1].Spec.Labels[LabelSubpathNode], ""), "a node without an engine label cannot be checked")
	assert.Check(t, is.Equal(f.nodes[2].Spec.Labels[LabelSubpathNode], "true"))
	assert.Check(t, is.Equal(replicas(svc), uint64(1)))
	assert.Check(t, is.Equal(svc.Spec.UpdateConfig.Order, swarm.UpdateOrderStopFirst))
	cs := svc.Spec.TaskTemplate.ContainerSpec
	assert.Check(t, is.Equal(cs.Labels[LabelSubdir], "team/a"))
	assert.Check(t, is.Equal(svc.Spec.Labels[LabelPlacement], "pinned"))
	assert.Check(t, is.DeepEqual([]string(cs.Command), []string{"sleep", "infinity"}))
	assert.Check(t, is.Equal(cs.Dir, WorkspaceTarget))
	assert.Check(t, is.Equal(cs.Mounts[0].VolumeOptions.Subpath, "team/a"))
	assert.Check(t, is.Equal(cs.Mounts[0].Source, "ws"))
	// Made on n3, owned by the image's user, and recorded there.
	ws := f.engines["n3"].fs["ws"]
	assert.Assert(t, ws != nil, "nothing was made on n3")
	assert.Check(t, ws.entries["team/a"] != nil && ws.entries["team/a"].dir)
	assert.Check(t, ws.entries[registryPath+"/"+recordName("team/a")] != nil)
	for _, other := range []string{"n1", "n2"} {
		assert.Check(t, is.Len(f.engines[other].fs, 0), "made on %s", other)
	}

	f.calls = nil
	res, err = s.Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRunning))
	assert.Check(t, is.Equal(f.callList(), "services"))
}

// stop scales to 0, ensure back to 1 (on the same node), rm removes the
// service: the data stays on the node through all three.
func TestSwarmStopStartRemoveKeepData(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	node := pinnedNode(f.services[res.ID])
	stopped, err := s.Stop(context.Background(), "a")
	assert.NilError(t, err)
	assert.Check(t, stopped)
	assert.Check(t, is.Equal(replicas(f.services[res.ID]), uint64(0)))
	stopped, err = s.Stop(context.Background(), "a")
	assert.NilError(t, err)
	assert.Check(t, !stopped, "stopped twice")
	again, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.Action, ActionStarted))
	assert.Check(t, is.Equal(again.Node, f.node(node).Description.Hostname))
	_, err = s.Remove(context.Background(), "a", false)
	assert.Check(t, is.ErrorContains(err, "is running: stop it first"))
	_, err = s.Remove(context.Background(), "a", true)
	assert.NilError(t, err)
	assert.Check(t, is.Len(f.services, 0))
	assert.Check(t, f.engines[node].fs["ws"].entries["a"] != nil, "the data went with the service")
	_, err = s.Remove(context.Background(), "a", true)
	assert.Check(t, is.ErrorIs(err, ErrNoSuchWorkspace))
}

// Many ensures at once: one service; the losers adopt it.
func TestSwarmConcurrentEnsures(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	var wg sync.WaitGroup
	ids := make([]string, 20)
	errs := make([]error, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Ensure(context.Background(), "a", swarmConfig())
			ids[i], errs[i] = res.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		assert.Check(t, errs[i])
		assert.Check(t, is.Equal(ids[i], ids[0]))
	}
	assert.Check(t, is.Len(f.services, 1))
}

// A service of the name that is another workspace's, or nobody's, is
// refused and left untouched.
func TestSwarmIdentity(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	_, err := s.Ensure(context.Background(), "a.b", swarmConfig())
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "a_b", swarmConfig())
	assert.Check(t, is.ErrorContains(err, `service gws-a-b belongs to workspace "a.b"`))
	f.services["x"] = &swarm.Service{ID: "x", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "gws-c"}}}
	_, err = s.Ensure(context.Background(), "c", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "is not a workspace's"))
	_, err = s.Stop(context.Background(), "c")
	assert.Check(t, is.ErrorContains(err, "is not a workspace's"))
	assert.Check(t, is.Equal(replicas(f.services["x"]), uint64(0)))
}

// Drift is reported; if-changed updates the service (stop-first, its pin
// kept) and waits for a task of the new configuration.
func TestSwarmDriftAndRecreate(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	cfg.Memory = 1 << 30
	got, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Drift, []string{"limits"}))
	assert.Check(t, is.Equal(got.Action, ActionRunning))
	cfg.Recreate = RecreateIfChanged
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, ActionRecreated))
	assert.Check(t, is.Equal(got.Node, res.Node))
	svc := f.services[res.ID]
	pin := pinnedNode(svc)
	assert.Check(t, is.Equal(svc.Spec.TaskTemplate.Resources.Limits.MemoryBytes, int64(1<<30)))
	assert.Check(t, is.Equal(f.node(pin).Description.Hostname, res.Node))
	running := 0
	for _, t := range f.tasks {
		if t.DesiredState == swarm.TaskStateRunning {
			running++
		}
	}
	assert.Check(t, is.Equal(running, 1))
	cfg.Recreate = RecreateAlways
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, ActionRecreated))
	assert.Check(t, is.Equal(f.services[res.ID].Spec.TaskTemplate.ForceUpdate, uint64(2)))
}

// What a workspace on Swarm cannot be is refused before anything is made.
func TestSwarmRefusals(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	bind := Config{Image: DefaultImage, Mode: ModeBind, WorkspaceRoot: "/w", SharedDir: "/s"}
	_, err := s.Ensure(context.Background(), "a", bind)
	assert.Check(t, is.ErrorContains(err, "need volume_subpath mode"))
	shared := swarmConfig()
	shared.Placement = PlacementShared
	_, err = s.Ensure(context.Background(), "a", shared)
	assert.Check(t, is.ErrorContains(err, "placement shared needs volumes"))
	seccomp := swarmConfig()
	seccomp.SecurityOpt = []string{"seccomp=unconfined"}
	_, err = s.Ensure(context.Background(), "a", seccomp)
	assert.Check(t, is.ErrorContains(err, "refused rather than dropped"))
	compose := swarmConfig()
	compose.ComposeProject = "p"
	_, err = s.Ensure(context.Background(), "a", compose)
	assert.Check(t, is.ErrorContains(err, "Compose projects are not supported on Swarm"))
	assert.Check(t, is.Len(f.services, 0))
	assert.Check(t, is.Equal(f.callList(), ""))

	for _, n := range f.nodes {
		delete(n.Spec.Labels, LabelNodeEngine)
	}
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "sw1 has no docker-workspace.engine label"))

	f.control, f.calls = false, nil
	assert.Check(t, is.ErrorContains(s.CheckManager(context.Background()), "is a Swarm worker"))
	// Nothing is asked up front: the refusal of the first call is told.
	f.calls = nil
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorIs(err, ErrNotSwarmManager))
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker: use a context of a manager"))
	assert.Check(t, is.Equal(f.callList(), "services info"))
	f.state = swarm.LocalNodeStateInactive
	assert.Check(t, is.ErrorIs(s.CheckManager(context.Background()), ErrNotSwarmManager))
}

// Shared placement: no pin, old engines kept out; the volumes carry their
// driver options. When the node of the task goes down and Swarm starts the
// workspace elsewhere, List says a container may still run there.
func TestSwarmSharedPlacement(t *testing.T) {
	f := newFakeSwarm()
	f.addNode("n4", "old", "20.10.24", "old")
	s := f.manager()
	cfg := swarmConfig()
	cfg.Placement = PlacementShared
	cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	svc := f.services[res.ID]
	storage := storageLabel(cfg)
	assert.Check(t, is.DeepEqual(svc.Spec.TaskTemplate.Placement.Constraints, []string{"node.labels.docker-workspace.subpath==true", "node.labels." + storage + "==true"}))
	// The nodes whose volumes were checked for that storage, and only they.
	for _, n := range []string{"n1", "n2", "n3"} {
		assert.Check(t, is.Equal(f.node(n).Spec.Labels[storage], "true"), n)
	}
	assert.Check(t, is.Equal(f.node("n4").Spec.Labels[storage], ""))
	assert.Check(t, is.Equal(f.node("n4").Spec.Labels[LabelSubpathNode], ""), "an old Engine labelled")
	ms := svc.Spec.TaskTemplate.ContainerSpec.Mounts
	assert.Check(t, is.DeepEqual(ms[0].VolumeOptions.DriverConfig, &mount.Driver{Name: "local", Options: cfg.VolumeOptions}))
	assert.Check(t, is.DeepEqual(ms[1].VolumeOptions.DriverConfig, &mount.Driver{Name: "local", Options: cfg.SharedVolumeOptions}))

	// The node dies; Swarm moves the task.
	var first string
	for _, t := range f.tasks {
		first = t.NodeID
	}
	f.mu.Lock()
	f.node(first).Status.State = swarm.NodeStateDown
	svc.Spec.TaskTemplate.ForceUpdate++ // the orchestrator replaces the task
	f.reconcile(svc)
	f.mu.Unlock()
	ws, err := s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1))
	assert.Check(t, ws[0].Node != "" && ws[0].Node != f.node(first).Description.Hostname, "node %q", ws[0].Node)
	assert.Check(t, is.Equal(ws[0].State, "running"))
	assert.Assert(t, is.Len(ws[0].Warnings, 1))
	assert.Check(t, is.Contains(ws[0].Warnings[0], "may still run on node "+f.node(first).Description.Hostname))

	// A node of an old Engine that claims the label loses it at the next
	// ensure that places a workspace.
	f.node("n4").Spec.Labels[LabelSubpathNode] = "true"
	_, err = s.Ensure(context.Background(), "b", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.node("n4").Spec.Labels[LabelSubpathNode], ""))
}

// A pinned workspace whose node is down waits, and says why.
func TestSwarmPinnedWaitsForItsNode(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	res, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	_, err = s.Stop(context.Background(), "a")
	assert.NilError(t, err)
	pin := pinnedNode(f.services[res.ID])
	f.node(pin).Status.State = swarm.NodeStateDown
	old := swarmWait
	swarmWait = 20 * time.Millisecond
	defer func() { swarmWait = old }()
	var progress strings.Builder
	s.Progress = &progress
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "no task running after"))
	assert.Check(t, is.Contains(progress.String(), "gws-a: task pending: no suitable node"))
	for _, t2 := range f.tasks {
		assert.Check(t, t2.DesiredState != swarm.TaskStateRunning || t2.NodeID == "" || t2.NodeID == pin, "a task elsewhere")
	}
}

func TestServiceName(t *testing.T) {
	for subdir, want := range map[string]string{"alice": "gws-alice", "a.b_c": "gws-a-b-c", "Team/Bob": "gws-team-bob", "x_": "gws-x"} {
		assert.Check(t, is.Equal(ServiceName(subdir), want), subdir)
	}
}

// doctor's view: which nodes take workspaces and why not; a configuration
// Swarm cannot serve is a problem.
func TestSwarmCheck(t *testing.T) {
	f := newFakeSwarm()
	f.nodes[0].Description.Engine.EngineVersion = "20.10.24+dfsg1"
	delete(f.nodes[1].Spec.Labels, LabelNodeEngine)
	s := f.manager()
	r, err := s.Check(context.Background(), swarmConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Len(r.Problems, 0))
	assert.Assert(t, is.Len(r.Nodes, 3))
	assert.Check(t, !r.Nodes[0].Subpath)
	assert.Check(t, is.Equal(r.Nodes[1].EngineError, "no docker-workspace.engine label"))
	assert.Check(t, r.Nodes[2].Subpath && r.Nodes[2].EngineError == "")
	assert.Check(t, is.Len(r.Warnings, 2))

	delete(f.nodes[2].Spec.Labels, LabelNodeEngine)
	bind := Config{Image: DefaultImage, Mode: ModeBind, WorkspaceRoot: "/w", SharedDir: "/s"}
	r, err = s.Check(context.Background(), bind)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(r.Problems, 2))
	assert.Check(t, is.Contains(r.Problems[0], "need volume_subpath mode"))
	assert.Check(t, is.Contains(r.Problems[1], "no node can take a new workspace"))
}

// New workspaces spread over the nodes, also when many are placed at once.
func TestSwarmSpreadsNewWorkspaces(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Ensure(context.Background(), fmt.Sprintf("w%d", i), swarmConfig())
			assert.Check(t, err)
		}()
	}
	wg.Wait()
	per := map[string]int{}
	for _, svc := range f.services {
		per[pinnedNode(svc)]++
	}
	assert.Check(t, is.DeepEqual(per, map[string]int{"n1": 4, "n2": 4, "n3": 4}))
}

// Two nested workspaces ensured at the same moment, from anywhere: the one
// claimed first is made, the other refused — also when they would be made
// on two nodes; one ensured later is refused too.
func TestSwarmNestedWorkspacesAreRefused(t *testing.T) {
	for round := range 10 {
		f := newFakeSwarm()
		s1, s2 := f.manager(), f.manager() // two processes
		outer, inner := fmt.Sprintf("t%d", round), fmt.Sprintf("t%d/bob", round)
		cfg := swarmConfig()
		cfg.Placement = PlacementShared
		cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
		cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, sub := range []string{outer, inner} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = []*Swarm{s1, s2}[i].Ensure(context.Background(), sub, cfg)
			}()
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			if err == nil {
				made++
			} else {
				assert.Check(t, is.ErrorIs(err, ErrOverlap))
			}
		}
		assert.Check(t, is.Equal(made, 1), "round %d: %v", round, errs)
		assert.Check(t, is.Len(f.services, 1), "round %d", round)
		assert.Check(t, is.Len(f.configs, 1), "round %d: the refused one's claim stays", round)
	}
	f := newFakeSwarm()
	s := f.manager()
	_, err := s.Ensure(context.Background(), "team", swarmConfig())
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "team/bob", swarmConfig())
	assert.Check(t, is.ErrorIs(err, ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `would nest with workspace "team"`))
	_, err = s.Ensure(context.Background(), "teamb", swarmConfig())
	assert.NilError(t, err, "a sibling whose name starts alike nests with nothing")
}

// A pinned workspace removed and ensured again goes back to the node of
// its data, whatever the load says now.
func TestSwarmPinnedComesBackToItsData(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	_, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	var first string
	for _, svc := range f.services {
		first = pinnedNode(svc)
	}
	_, err = s.Remove(context.Background(), "a", true)
	assert.NilError(t, err)
	// The others get workspaces: the load now points elsewhere.
	for i := range 4 {
		_, err := s.Ensure(context.Background(), fmt.Sprintf("o%d", i), swarmConfig())
		assert.NilError(t, err)
	}
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	for _, svc := range f.services {
		if svc.Spec.Labels[LabelSubdir] == "a" {
			assert.Check(t, is.Equal(pinnedNode(svc), first))
		}
	}
}

// An engine keeps a volume as it was made: one of the name made otherwise
// on a node that may run the workspace is refused, not silently used; so
// is a node label that names another node's engine.
func TestSwarmChecksTheNodes(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	cfg := swarmConfig()
	cfg.Placement = PlacementShared
	cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
	f.engines["n2"].vols = map[string]volume.Volume{"ws": {Name: "ws", Driver: "local"}}
	_, err := s.Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "volume ws on node sw2 exists with driver local and options (none), not with the configured driver local and options device=:/ws,type=nfs"))
	assert.Check(t, is.Len(f.services, 0))

	f = newFakeSwarm()
	s = f.manager()
	s.NodeEngine = func(_ context.Context, n swarm.Node, _ string) (Client, error) { return f.engines["n3"], nil }
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "names the engine of another node"))
	assert.Check(t, is.Len(f.services, 0))
}

// Bind volumes whose directories overlap, or are relative, are refused
// before anything is asked.
func TestVolumeBindDevicesConfig(t *testing.T) {
	cfg := swarmConfig()
	cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/store"}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/store/sh"}
	assert.Check(t, is.ErrorContains(cfg.Validate(), "overlaps the workspace volume's"))
	cfg.SharedVolumeOptions["device"] = "/srv/store"
	assert.Check(t, is.ErrorContains(cfg.Validate(), "overlaps the workspace volume's"))
	cfg.SharedVolumeOptions["device"] = "srv/sh"
	assert.Check(t, is.ErrorContains(cfg.Validate(), "must be an absolute path"))
	for _, d := range []string{"/tmp/lnk/../sh", "/srv/./sh", "/srv//sh", "/srv/sh/"} {
		cfg.SharedVolumeOptions["device"] = d
		assert.Check(t, is.ErrorContains(cfg.Validate(), "must be a clean path"), d)
	}
	cfg.SharedVolumeOptions["device"] = "/srv/sh"
	assert.Check(t, cfg.Validate())
}

// A service that is not kept off old Engines (an early version's) has
// drifted in its placement, and recreate puts the constraint on; a task of
// a node that left the Swarm may still run; a service labelled as a
// workspace's but named as none is not one.
func TestSwarmListAndDriftEdges(t *testing.T) {
	f := newFakeSwarm()
	s := f.manager()
	res, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	svc := f.services[res.ID]
	svc.Spec.TaskTemplate.Placement.Constraints = []string{"node.id==" + pinnedNode(svc)}
	got, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Drift, []string{"placement"}))
	ws, err := s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1))
	assert.Check(t, is.Len(ws[0].Warnings, 1))
	cfg := swarmConfig()
	cfg.Recreate = RecreateIfChanged
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, ActionRecreated))
	assert.Check(t, keptOffOldEngines(f.services[res.ID]))

	// Its node leaves the Swarm (docker node rm --force) with its task.
	f.mu.Lock()
	for i := range f.tasks {
		if f.tasks[i].DesiredState == swarm.TaskStateRunning {
			f.tasks[i].DesiredState = swarm.TaskStateShutdown
			f.tasks[i].NodeID = "gone-node"
		}
	}
	f.services["fake"] = &swarm.Service{ID: "fake", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "gws-fake", Labels: map[string]string{LabelSubdir: "other"}}}}
	f.mu.Unlock()
	ws, err = s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1), "a service named as no workspace is listed")
	assert.Assert(t, is.Len(ws[0].Warnings, 1))
	assert.Check(t, is.Contains(ws[0].Warnings[0], "may still run on node gone-node, which left the Swarm"))
}

// Claims compare storages, not names: two volume names of one directory
// are one storage; a shared directory in, or above, the workspaces of
// another configuration meets them; workspace storages that nest meet.
func TestSwarmClaimsCompareStorages(t *testing.T) {
	bindCfg := func(vol, ws, sh string) Config {
		cfg := swarmConfig()
		cfg.Placement, cfg.WorkspaceVolume, cfg.SharedVolume = PlacementShared, vol, vol+"-sh"
		cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": ws}
		cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": sh}
		return cfg
	}
	f := newFakeSwarm()
	for _, e := range f.engines { // the nodes' directories: below /srv, root's, 0700
		e.setHost("/srv", &memEntry{dir: true, mode: 0o700})
		for _, d := range []string{"/srv/p/dev", "/srv/p/shared", "/srv/q/dev", "/srv/p/shared/x", "/srv/r/shared", "/srv/p/dev/deeper", "/srv/r/shared2", "/srv/other/dev", "/srv/other/shared"} {
			e.setHost(d, &memEntry{dir: true})
		}
	}
	s := f.manager()
	_, err := s.Ensure(context.Background(), "solo", bindCfg("v1", "/srv/p/dev", "/srv/p/shared"))
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "solo/bob", bindCfg("v2", "/srv/p/dev", "/srv/p/shared"))
	assert.Check(t, is.ErrorIs(err, ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `would nest with workspace "solo" in one storage (bind:/srv/p/dev)`))
	_, err = s.Ensure(context.Background(), "cb", bindCfg("v3", "/srv/q/dev", "/srv/p/dev/solo"))
	assert.Check(t, is.ErrorContains(err, `would share a directory (bind:/srv/p/dev/solo) that meets the workspaces' storage of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "cc", bindCfg("v4", "/srv/p/shared/x", "/srv/r/shared"))
	assert.Check(t, is.ErrorContains(err, `that meets the shared directory of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "cd", bindCfg("v5", "/srv/p/dev/deeper", "/srv/r/shared2"))
	assert.Check(t, is.ErrorContains(err, `nests with that of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "ok", bindCfg("v6", "/srv/other/dev", "/srv/other/shared"))
	assert.NilError(t, err)
	// The refused ones' claims are gone: nothing of theirs was made.
	assert.Check(t, is.Len(f.configs, 2))
}

// The third Swarm attack round's cases: local volumes over host paths in
// any other form than a checked bind directory; a bind directory in the
// workspaces of another configuration; a second volume name of one
// storage on an engine; volumes with options made in engine mode on a
// Swarm node, where only the Swarm orders the nodes.
func TestVolumeOptionsThatNameHostPaths(t *testing.T) {
	base := swarmConfig()
	for _, tc := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"type": "overlay", "device": "overlay", "o": "lowerdir=/srv,upperdir=/srv/u,workdir=/srv/w"}, "over host directories (lowerdir="},
		{map[string]string{"type": "ext4", "device": "/dev/vda"}, "type=ext4: a local volume of that type mounts host storage"},
		{map[string]string{"type": "nfs", "device": "/export/ws", "o": "addr=10.0.0.2"}, "device=/export/ws: a host path is a bind volume's"},
		{map[string]string{"type": "nfs", "device": ":/export/ws", "o": "addr=10.0.0.2,rw"}, ""},
		{map[string]string{"type": "cifs", "device": "//server/share", "o": "username=u"}, ""},
		{map[string]string{"type": "tmpfs", "device": "tmpfs"}, ""},
	} {
		cfg := base
		cfg.VolumeOptions = tc.opts
		cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh", "o": "addr=10.0.0.2"}
		err := cfg.Validate()
		if tc.err == "" {
			assert.Check(t, err, "%v", tc.opts)
		} else {
			assert.Check(t, is.ErrorContains(err, tc.err), "%v", tc.opts)
		}
	}

	// A shared bind directory in another configuration's workspaces (a
	// directory that holds records), on one engine.
	f := newFakeEngine()
	f.vols = map[string]volume.Volume{}
	f.setHost("/srv", &memEntry{dir: true, mode: 0o700})
	f.setHost("/srv/ws", &memEntry{dir: true})
	f.setHost("/srv/other", &memEntry{dir: true})
	f.setHost("/srv/other/"+RegistryDir, &memEntry{dir: true, mode: 0o700})
	f.setHost("/srv/other/eve", &memEntry{dir: true})
	cfg := base
	cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/other/eve"}
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "the root of other workspaces"))
	assert.Check(t, f.byName("gws-a") == nil)

	// A volume of another name on the same directory.
	f = newFakeEngine()
	f.vols = map[string]volume.Volume{"alias": {Name: "alias", Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/srv/ws/"}}}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/sh"}
	_, err = NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "meets that of volume alias (bind:/srv/ws)"))

	// Engine mode on a node of a Swarm.
	f = newFakeEngine()
	f.nodeID = "n1"
	_, err = NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "this engine is a node of a Swarm"))
	assert.Check(t, f.byName("gws-a") == nil)
}
