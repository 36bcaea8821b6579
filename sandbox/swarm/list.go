package swarm

// What a Swarm holds: its workspace services with their tasks and nodes
// (ls), the running task of one (exec, cp), and what doctor tells.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-units"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
)

// DriftPlacement is the drift of a service that is not kept off the nodes
// whose Engine ignores a volume subpath (made by an early version).
const DriftPlacement = "placement"

// List returns the workspace services, sorted by name, each with the node
// and state of its task, and a warning where a container of it may still
// run on a node that is down (Swarm cannot know: a container outlives its
// node's engine). A service that is not kept off old Engines has drifted in
// its placement already.
func (s *Swarm) List(ctx context.Context) ([]sandbox.Workspace, error) {
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelSubdir))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	tasks, err := s.client.TaskList(ctx, swarmtypes.TaskListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	byNode := map[string]swarmtypes.Node{}
	for _, n := range nodes {
		byNode[n.ID] = n
	}
	bySvc := map[string][]swarmtypes.Task{}
	for _, t := range tasks {
		bySvc[t.ServiceID] = append(bySvc[t.ServiceID], t)
	}
	out := make([]sandbox.Workspace, 0, len(svcs))
	for i := range svcs {
		if svcs[i].Spec.Name != serviceName(svcs[i].Spec.Labels[sandbox.LabelSubdir]) {
			continue // labelled as a workspace's, named as none: not one
		}
		out = append(out, workspaceOf(&svcs[i], bySvc[svcs[i].ID], byNode))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// workspaceOf is a workspace service as List tells it, with its tasks.
func workspaceOf(svc *swarmtypes.Service, ts []swarmtypes.Task, byNode map[string]swarmtypes.Node) sandbox.Workspace {
	w := sandbox.Workspace{
		ID: svc.ID, Name: svc.Spec.Name, Subdir: svc.Spec.Labels[sandbox.LabelSubdir], Mode: sandbox.MountMode(svc.Spec.Labels[sandbox.LabelMode]),
		Created: svc.CreatedAt, Labels: svc.Spec.Labels, State: "stopped", Status: "Scaled to 0",
	}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		w.Image = cs.Image
	}
	if !keptOffOldEngines(svc) {
		w.Drift = []string{DriftPlacement}
		w.Warnings = append(w.Warnings, "its service is not kept off nodes whose Engine ignores a volume subpath (made by an early version): a recreate constrains it")
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Meta.CreatedAt.After(ts[j].Meta.CreatedAt) })
	var cur *swarmtypes.Task
	for i := range ts {
		if cur == nil && ts[i].DesiredState == swarmtypes.TaskStateRunning {
			cur = &ts[i]
		}
		if warning := mayOutlive(ts[i], byNode); warning != "" {
			w.Warnings = append(w.Warnings, warning)
		}
	}
	if replicas(svc) > 0 {
		w.State, w.Status = "pending", "No task"
	}
	if cur != nil {
		w.State = string(cur.Status.State)
		w.Status = fmt.Sprintf("%s %s ago", titleFirst(string(cur.Status.State)), strings.ToLower(units.HumanDuration(time.Since(cur.Status.Timestamp))))
		if cur.NodeID != "" {
			w.Node = nodeName(byNode[cur.NodeID])
		}
		if cur.Status.State == swarmtypes.TaskStatePending && cur.Status.Err != "" {
			w.Status += " (" + cur.Status.Err + ")"
		}
		if cur.Status.ContainerStatus != nil {
			w.ContainerID = cur.Status.ContainerStatus.ContainerID
		}
	}
	if pin := pinnedNode(svc); w.Node == "" && pin != "" {
		w.Node = nodeName(byNode[pin])
	}
	return w
}

// mayOutlive warns of a task last heard of as started (or starting) on a
// node that is down, or no longer in the Swarm, or given up (orphaned): its
// container may run on.
func mayOutlive(t swarmtypes.Task, byNode map[string]swarmtypes.Node) string {
	n := byNode[t.NodeID]
	switch {
	case t.NodeID == "" || !mayRun(t.Status.State):
	case n.ID == "":
		return fmt.Sprintf("a container may still run on node %s, which left the Swarm (a container outlives its node's engine)", t.NodeID)
	case n.Status.State == swarmtypes.NodeStateDown || n.Status.State == swarmtypes.NodeStateUnknown || t.Status.State == swarmtypes.TaskStateOrphaned:
		return fmt.Sprintf("a container may still run on node %s, which is %s (a container outlives its node's engine)", nodeName(n), n.Status.State)
	}
	return ""
}

// Resolve finds, with one list, what each reference names: a subdir, a
// service's name (or the container name of its subdir), its ID or a
// unique prefix of it.
func (s *Swarm) Resolve(ctx context.Context, refs []string) ([]sandbox.Target, error) {
	ws, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := sandbox.ResolveRefs(refs, ws)
	for i := range out {
		t := &out[i]
		if t.Workspace != nil || t.Err != nil {
			continue
		}
		// No workspace's: is its name another service's?
		if t.Named {
			t.Err = s.foreign(ctx, t.Ref)
		} else if _, err := s.find(ctx, t.Subdir); err != nil {
			t.Err = err
		}
	}
	return out, nil
}

// foreign is the refusal of a service that a reference names and that is
// no workspace's (nil when there is none).
func (s *Swarm) foreign(ctx context.Context, ref string) error {
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{})
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		if svc.Spec.Name == ref || svc.ID == ref {
			return fmt.Errorf("%w: service %s is not a workspace's; nothing was changed", sandbox.ErrNotThisWorkspace, svc.Spec.Name)
		}
	}
	return nil
}

// CheckDrift sets the drift of each workspace service: from cfg, or, with
// none, what List found (its placement).
func (s *Swarm) CheckDrift(_ context.Context, ws []sandbox.Workspace, cfg *sandbox.Config) error {
	if cfg == nil {
		return nil
	}
	for i := range ws {
		placement := slices.Contains(ws[i].Drift, DriftPlacement)
		ws[i].Drift = sandbox.Drift(ws[i].Labels, specFor(ws[i].Subdir, *cfg))
		if placement && !slices.Contains(ws[i].Drift, DriftPlacement) {
			ws[i].Drift = append(ws[i].Drift, DriftPlacement)
		}
	}
	return nil
}

// Locate finds the running task of a workspace and its node: what exec and
// cp reach through the node's engine.
func (s *Swarm) Locate(ctx context.Context, w sandbox.Workspace) (sandbox.Location, error) {
	tasks, err := s.client.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", w.ID), filters.Arg("desired-state", "running"))})
	if err != nil {
		return sandbox.Location{}, fmt.Errorf("list the tasks of service %s: %w", w.Name, err)
	}
	for _, t := range tasks {
		if t.Status.State != swarmtypes.TaskStateRunning || t.Status.ContainerStatus == nil {
			continue
		}
		nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", t.NodeID))})
		if err != nil {
			return sandbox.Location{}, fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range nodes {
			if n.ID != t.NodeID {
				continue
			}
			label := n.Spec.Labels[sandbox.LabelNodeEngine]
			if label == "" {
				return sandbox.Location{}, &sandbox.NodeEngineError{Node: nodeName(n), Err: fmt.Errorf("service %s runs there, and it has no %s label: a "+
					"task's container is reached through its node's engine", w.Name, sandbox.LabelNodeEngine)}
			}
			return sandbox.Location{ContainerID: t.Status.ContainerStatus.ContainerID, Engine: label}, nil
		}
	}
	return sandbox.Location{}, fmt.Errorf("%w: service %s has no running task", sandbox.ErrNotRunning, w.Name)
}

// LoginShell is the login shell of the user a task's container runs as,
// read through its node's engine.
func (s *Swarm) LoginShell(ctx context.Context, loc sandbox.Location, user string) (string, error) {
	if s.opts.NodeEngine == nil {
		return "sh", nil
	}
	c, err := s.opts.NodeEngine(ctx, swarmtypes.Node{}, loc.Engine)
	if err != nil {
		return "sh", nil
	}
	return engine.New(c, engine.Options{Timeout: s.opts.Timeout}).LoginShell(ctx, loc, user)
}

// nodes lists the nodes of the Swarm, sorted by name.
func (s *Swarm) nodes(ctx context.Context) ([]swarmtypes.Node, error) {
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodeName(nodes[i]) < nodeName(nodes[j]) })
	return nodes, nil
}

func titleFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// describeEgress says what a workspace's task reaches.
func describeEgress(cfg sandbox.Config) string {
	if cfg.Network == "" && cfg.EgressMode() == egress.ModeOpen {
		return "open: the internet by any protocol, each workspace alone on an overlay network of its own; its task still reaches " +
			"the services of its node on the node's docker_gwbridge gateway, and the LAN"
	}
	return cfg.DescribeEgress()
}

// Check looks at the Swarm for doctor: the manager's engine, each node,
// whether it can take workspaces and whether its engine answers through
// its label, the configuration, and the workspaces a container of which may
// outlive a node that is down.
func (s *Swarm) Check(ctx context.Context, cfg sandbox.Config) (sandbox.Report, error) {
	r := sandbox.Report{
		Placement: placementOf(cfg), VolumeDriver: cfg.VolumeDriver, VolumeOptions: cfg.VolumeOptions, SharedVolumeOptions: cfg.SharedVolumeOptions,
		Sources: []sandbox.SourceCheck{}, Problems: []string{},
	}
	if err := s.checkManager(ctx); err != nil {
		return r, err
	}
	r.Egress = describeEgress(cfg)
	r.Disk = "not available: " + sandbox.DiskQuotaReason("")
	if v, err := bounded.Do(ctx, s.limits.Read, "version", false, s.raw.ServerVersion); err == nil {
		r.EngineVersion, r.APIVersion, r.OS = v.Version, v.APIVersion, v.Os
	}
	if err := cfg.Validate(); err != nil {
		r.Problems = append(r.Problems, err.Error())
	} else if err := checkConfig(cfg); err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return r, err
	}
	usable := 0
	for _, n := range nodes {
		nr := s.checkNode(ctx, n)
		if !nr.Subpath {
			r.Warnings = append(r.Warnings, fmt.Sprintf("node %s runs Engine %s, which does not apply a volume subpath in a task: it gets no workspace (%s+ does)", nr.Name, nr.Engine, minSubpathEngine))
		}
		if nr.EngineError != "" && n.Status.State == swarmtypes.NodeStateReady {
			r.Warnings = append(r.Warnings, fmt.Sprintf("node %s: its engine cannot be reached (%s): it gets no new workspace, and exec and cp cannot reach the workspaces on it", nr.Name, nr.EngineError))
		}
		if nr.TakesWorkspaces {
			usable++
		}
		r.Nodes = append(r.Nodes, nr)
	}
	if usable == 0 {
		r.Problems = append(r.Problems, "no node can take a new workspace (ready, active, Engine "+minSubpathEngine+"+, its engine reachable through its "+sandbox.LabelNodeEngine+" label)")
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

// checkNode is what doctor tells of a node: whether its engine answers
// through its label, and whether it takes workspaces.
func (s *Swarm) checkNode(ctx context.Context, n swarmtypes.Node) sandbox.NodeReport {
	nr := sandbox.NodeReport{
		Name: nodeName(n), ID: n.ID, Role: string(n.Spec.Role), State: string(n.Status.State),
		Availability: string(n.Spec.Availability), Engine: n.Description.Engine.EngineVersion,
		Subpath: canSubpath(n), EngineLabel: n.Spec.Labels[sandbox.LabelNodeEngine],
	}
	if nr.EngineLabel == "" {
		nr.EngineError = "no " + sandbox.LabelNodeEngine + " label"
	} else if _, err := s.nodeClient(ctx, n); err != nil {
		var ne *sandbox.NodeEngineError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		nr.EngineError = err.Error()
	}
	nr.TakesWorkspaces = nr.Subpath && nr.EngineError == "" && n.Status.State == swarmtypes.NodeStateReady && n.Spec.Availability == swarmtypes.NodeAvailabilityActive
	return nr
}
