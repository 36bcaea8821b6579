package sandbox

// What a Swarm holds: its workspace services with their tasks and nodes
// (ls), the running task of one (exec, cp), and what doctor tells.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-units"
)

// List returns the workspace services, sorted by name, each with the node
// and state of its task, and a warning where a container of it may still
// run on a node that is down (Swarm cannot know: a container outlives its
// node's engine).
func (s *Swarm) List(ctx context.Context) ([]Workspace, error) {
	svcs, err := s.client.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelSubdir))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	tasks, err := s.client.TaskList(ctx, swarm.TaskListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	nodes, err := s.client.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	byNode := map[string]swarm.Node{}
	for _, n := range nodes {
		byNode[n.ID] = n
	}
	bySvc := map[string][]swarm.Task{}
	for _, t := range tasks {
		bySvc[t.ServiceID] = append(bySvc[t.ServiceID], t)
	}
	out := make([]Workspace, 0, len(svcs))
	for _, svc := range svcs {
		if svc.Spec.Name != ServiceName(svc.Spec.Labels[LabelSubdir]) {
			continue // labelled as a workspace's, named as none: not one
		}
		w := Workspace{
			ID: svc.ID, Name: svc.Spec.Name, Subdir: svc.Spec.Labels[LabelSubdir], Mode: MountMode(svc.Spec.Labels[LabelMode]),
			Created: svc.CreatedAt, Labels: svc.Spec.Labels, State: "stopped", Status: "Scaled to 0",
		}
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			w.Image = cs.Image
		}
		if !keptOffOldEngines(&svc) {
			w.unconstrained = true
			w.Warnings = append(w.Warnings, "its service is not kept off nodes whose Engine ignores a volume subpath (made by an early version): ensure --recreate if-changed constrains it")
		}
		ts := bySvc[svc.ID]
		sort.Slice(ts, func(i, j int) bool { return ts[i].Meta.CreatedAt.After(ts[j].Meta.CreatedAt) })
		var cur *swarm.Task
		for i := range ts {
			t := &ts[i]
			n := byNode[t.NodeID]
			if cur == nil && t.DesiredState == swarm.TaskStateRunning {
				cur = t
			}
			// A task last heard of as started (or starting) on a node
			// that is down, or no longer in the Swarm, or given up
			// (orphaned): its container may run on.
			switch {
			case t.NodeID == "" || !mayRun(t.Status.State):
			case n.ID == "":
				w.Warnings = append(w.Warnings, fmt.Sprintf("a container may still run on node %s, which left the Swarm (a container outlives its node's engine)", t.NodeID))
			case n.Status.State == swarm.NodeStateDown || n.Status.State == swarm.NodeStateUnknown || t.Status.State == swarm.TaskStateOrphaned:
				w.Warnings = append(w.Warnings, fmt.Sprintf("a container may still run on node %s, which is %s (a container outlives its node's engine)", NodeName(n), n.Status.State))
			}
		}
		if replicas(&svc) > 0 {
			w.State, w.Status = "pending", "No task"
		}
		if cur != nil {
			w.State = string(cur.Status.State)
			w.Status = fmt.Sprintf("%s %s ago", titleFirst(string(cur.Status.State)), strings.ToLower(units.HumanDuration(time.Since(cur.Status.Timestamp))))
			if cur.NodeID != "" {
				w.Node = NodeName(byNode[cur.NodeID])
			}
			if cur.Status.State == swarm.TaskStatePending && cur.Status.Err != "" {
				w.Status += " (" + cur.Status.Err + ")"
			}
			if cur.Status.ContainerStatus != nil {
				w.ContainerID = cur.Status.ContainerStatus.ContainerID
			}
		}
		if w.Node == "" {
			if pin := pinnedNode(&svc); pin != "" {
				w.Node = NodeName(byNode[pin])
			}
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CheckDrift sets the drift of each workspace service from cfg.
func (s *Swarm) CheckDrift(ws []Workspace, cfg Config) {
	for i := range ws {
		ws[i].Drift = drift(ws[i].Labels, swarmSpecFor(ws[i].Subdir, cfg))
		if ws[i].unconstrained && !slices.Contains(ws[i].Drift, "placement") {
			ws[i].Drift = append(ws[i].Drift, "placement")
		}
	}
}

// Task is where the container of a running workspace service is.
type Task struct {
	Service, Name string
	Node          swarm.Node
	// EngineLabel is the node's LabelNodeEngine ("" when none).
	EngineLabel string
	ContainerID string
}

// RunningTask finds the running task of a workspace and its node: what
// exec and cp reach through the node's engine.
func (s *Swarm) RunningTask(ctx context.Context, subdir string) (Task, error) {
	svc, err := s.find(ctx, subdir)
	if err != nil {
		return Task{}, err
	}
	if svc == nil {
		return Task{}, fmt.Errorf("%w: workspace %q has no service", ErrNoSuchWorkspace, subdir)
	}
	tasks, err := s.client.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID), filters.Arg("desired-state", "running"))})
	if err != nil {
		return Task{}, fmt.Errorf("list the tasks of service %s: %w", svc.Spec.Name, err)
	}
	for _, t := range tasks {
		if t.Status.State != swarm.TaskStateRunning || t.Status.ContainerStatus == nil {
			continue
		}
		nodes, err := s.client.NodeList(ctx, swarm.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", t.NodeID))})
		if err != nil {
			return Task{}, fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range nodes {
			if n.ID != t.NodeID {
				continue
			}
			return Task{Service: svc.ID, Name: svc.Spec.Name, Node: n, EngineLabel: n.Spec.Labels[LabelNodeEngine], ContainerID: t.Status.ContainerStatus.ContainerID}, nil
		}
	}
	return Task{}, fmt.Errorf("workspace %q is not running (service %s has no running task): ensure it", subdir, svc.Spec.Name)
}

// Nodes lists the nodes of the Swarm.
func (s *Swarm) Nodes(ctx context.Context) ([]swarm.Node, error) {
	nodes, err := s.client.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return NodeName(nodes[i]) < NodeName(nodes[j]) })
	return nodes, nil
}

func titleFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SwarmNode is what doctor tells of a node.
type SwarmNode struct {
	Name, ID     string
	Role         string // manager or worker
	State        string // ready, down, ...
	Availability string // active, pause, drain
	Engine       string // its Engine version
	// Subpath: its Engine applies a volume subpath in a task (26.1+):
	// only such nodes get workspaces.
	Subpath bool
	// EngineLabel is its LabelNodeEngine; EngineError why its engine
	// could not be reached through it ("" when it answered).
	EngineLabel string
	EngineError string `json:",omitempty"`
}

// SwarmCheck is what [Swarm.Check] found.
type SwarmCheck struct {
	Nodes []SwarmNode
	// Placement is the configured placement; VolumeDriver and the options
	// what the volumes are made with where they are missing.
	Placement           Placement
	VolumeDriver        string            `json:",omitempty"`
	VolumeOptions       map[string]string `json:",omitempty"`
	SharedVolumeOptions map[string]string `json:",omitempty"`
	Problems, Warnings  []string
}

// Check looks at the Swarm for doctor: each node, whether it can take
// workspaces and whether its engine answers through its label, the
// configuration, and the workspaces a container of which may outlive a
// node that is down.
func (s *Swarm) Check(ctx context.Context, cfg Config) (SwarmCheck, error) {
	r := SwarmCheck{Placement: placementOf(cfg), VolumeDriver: cfg.VolumeDriver, VolumeOptions: cfg.VolumeOptions, SharedVolumeOptions: cfg.SharedVolumeOptions, Problems: []string{}}
	if err := checkSwarmConfig(cfg); err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return r, err
	}
	usable := 0
	for _, n := range nodes {
		sn := SwarmNode{
			Name: NodeName(n), ID: n.ID, Role: string(n.Spec.Role), State: string(n.Status.State),
			Availability: string(n.Spec.Availability), Engine: n.Description.Engine.EngineVersion,
			Subpath: canSubpath(n), EngineLabel: n.Spec.Labels[LabelNodeEngine],
		}
		switch {
		case sn.EngineLabel == "":
			sn.EngineError = "no " + LabelNodeEngine + " label"
		case s.NodeEngine != nil:
			c, err := s.NodeEngine(ctx, n, sn.EngineLabel)
			if err == nil {
				_, err = c.ServerVersion(ctx)
			}
			if err != nil {
				sn.EngineError = err.Error()
			}
		}
		if !sn.Subpath {
			r.Warnings = append(r.Warnings, fmt.Sprintf("node %s runs Engine %s, which does not apply a volume subpath in a task: it gets no workspace (%s+ does)", sn.Name, sn.Engine, minSubpathEngine))
		}
		if sn.EngineError != "" && n.Status.State == swarm.NodeStateReady {
			r.Warnings = append(r.Warnings, fmt.Sprintf("node %s: its engine cannot be reached (%s): it gets no new workspace, and exec and cp cannot reach the workspaces on it", sn.Name, sn.EngineError))
		}
		if sn.Subpath && sn.EngineError == "" && n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive {
			usable++
		}
		r.Nodes = append(r.Nodes, sn)
	}
	if usable == 0 {
		r.Problems = append(r.Problems, "no node can take a new workspace (ready, active, Engine "+minSubpathEngine+"+, its engine reachable through its "+LabelNodeEngine+" label)")
	}
	ws, err := s.List(ctx)
	if err != nil {
		return r, err
	}
	for _, w := range ws {
		for _, warning := range w.Warnings {
			r.Warnings = append(r.Warnings, fmt.Sprintf("workspace %q (service %s): %s", w.Subdir, w.Name, warning))
		}
	}
	return r, nil
}
