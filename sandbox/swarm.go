package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
)

// SwarmClient is the part of the Docker API client that workspaces on a
// Swarm use: a manager's API.
type SwarmClient interface {
	Info(ctx context.Context) (system.Info, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, service swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	NodeUpdate(ctx context.Context, nodeID string, version swarm.Version, node swarm.NodeSpec) error
	ConfigCreate(ctx context.Context, config swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigList(ctx context.Context, options swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigRemove(ctx context.Context, id string) error
}

// LabelNodeEngine is the node label that names a node's own engine: a
// Docker context name, or an endpoint (unix://, tcp://, ssh://). Workspace
// directories are made, and exec and cp reach a workspace's container,
// through it (`docker node update --label-add docker-workspace.engine=…`).
const LabelNodeEngine = LabelPrefix + "engine"

// LabelPlacement records a workspace service's placement.
const LabelPlacement = LabelPrefix + "placement"

// LabelSubpathNode is the node label that Ensure keeps on the nodes whose
// Engine applies a volume subpath in a task ("true"), and only on those:
// every workspace service is constrained to such nodes, so that a node of
// an older Engine — one that joins later too — never runs one (it would
// mount the whole volume: every workspace).
const LabelSubpathNode = LabelPrefix + "subpath"

// minSubpathEngine is the first Engine that applies a volume subpath in a
// Swarm task (the API has it since 1.45, the task executor since 26.1).
const minSubpathEngine = "26.1"

// Bounds of the waits for a task to run or to stop.
var (
	swarmWait     = 90 * time.Second
	swarmPollStep = 200 * time.Millisecond
	swarmQuiet    = 2 * time.Second // waits shorter than this are not said
)

// ErrNotSwarmManager: the engine is not a manager of a Swarm.
var ErrNotSwarmManager = errors.New("not a Swarm manager")

// Swarm manages workspaces as services of a Docker Swarm: each workspace is
// a service of one replica, named after its container name under Swarm's
// rules (ServiceName), labelled as a container is. Its data is in volumes
// (volume_subpath mode): on the node it is pinned to (PlacementPinned), or
// in storage every node reaches (PlacementShared).
type Swarm struct {
	client SwarmClient
	// NodeEngine returns a client of a node's own engine, named by its
	// label LabelNodeEngine (label is its value, "" when the node has
	// none): a workspace's directory is made there, with the checks of
	// [Manager.Ensure], before Swarm runs it.
	NodeEngine func(ctx context.Context, node swarm.Node, label string) (Client, error)
	// Version, when set, is recorded on new services (LabelVersion).
	Version string
	// Progress receives a line for each change of state of a task that
	// Ensure, Stop or Remove waits for; nil discards them.
	Progress io.Writer

	mu      sync.Mutex
	placing map[string]string // subdir: the node this Swarm is placing it on now
	checked map[string]bool   // bind volumes' directories checked, by node
}

// NewSwarm returns a Swarm that talks to a manager through c. Nothing is
// asked up front: an engine that is no manager refuses the first call, and
// that refusal is told in one line (see CheckManager).
func NewSwarm(c SwarmClient) *Swarm {
	s := &Swarm{}
	s.client = managerClient{SwarmClient: c, s: s}
	return s
}

// managerClient turns the refusal of an engine that is no Swarm manager
// into the one line of CheckManager (one more call, on that failure only).
type managerClient struct {
	SwarmClient
	s *Swarm
}

func (c managerClient) check(ctx context.Context, err error) error {
	if err == nil || !strings.Contains(err.Error(), "not a swarm manager") {
		return err
	}
	if merr := c.s.CheckManager(ctx); merr != nil {
		return merr
	}
	return err
}

func (c managerClient) NodeList(ctx context.Context, o swarm.NodeListOptions) ([]swarm.Node, error) {
	out, err := c.SwarmClient.NodeList(ctx, o)
	return out, c.check(ctx, err)
}

func (c managerClient) ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, o swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	out, err := c.SwarmClient.ServiceCreate(ctx, spec, o)
	return out, c.check(ctx, err)
}

func (c managerClient) ServiceList(ctx context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	out, err := c.SwarmClient.ServiceList(ctx, o)
	return out, c.check(ctx, err)
}

func (c managerClient) ServiceUpdate(ctx context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, o swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	out, err := c.SwarmClient.ServiceUpdate(ctx, id, v, spec, o)
	return out, c.check(ctx, err)
}

func (c managerClient) ServiceRemove(ctx context.Context, id string) error {
	return c.check(ctx, c.SwarmClient.ServiceRemove(ctx, id))
}

func (c managerClient) NodeUpdate(ctx context.Context, id string, v swarm.Version, spec swarm.NodeSpec) error {
	return c.check(ctx, c.SwarmClient.NodeUpdate(ctx, id, v, spec))
}

func (c managerClient) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	out, err := c.SwarmClient.ConfigCreate(ctx, spec)
	return out, c.check(ctx, err)
}

func (c managerClient) ConfigList(ctx context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	out, err := c.SwarmClient.ConfigList(ctx, o)
	return out, c.check(ctx, err)
}

func (c managerClient) TaskList(ctx context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	out, err := c.SwarmClient.TaskList(ctx, o)
	return out, c.check(ctx, err)
}

// CheckManager fails, in one line, unless the engine is a Swarm manager.
func (s *Swarm) CheckManager(ctx context.Context) error {
	c := s.client
	if mc, ok := c.(managerClient); ok {
		c = mc.SwarmClient
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the engine about its Swarm: %w", err)
	}
	switch {
	case info.Swarm.LocalNodeState != swarm.LocalNodeStateActive:
		return fmt.Errorf("%w: this engine is in no Swarm (its state: %q): use --orchestrator engine, or a context of a Swarm manager", ErrNotSwarmManager, info.Swarm.LocalNodeState)
	case !info.Swarm.ControlAvailable:
		return fmt.Errorf("%w: this engine is a Swarm worker: use a context of a manager of its Swarm", ErrNotSwarmManager)
	}
	return nil
}

// ServiceName is the name of the service of a workspace: its container
// name with what Swarm refuses in a name ("." and "_") replaced by "-".
// Two subdirs whose names meet are refused as for containers.
func ServiceName(subdir string) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, ContainerName(subdir))
	return strings.TrimRight(name, "-")
}

// checkSwarmConfig refuses what a workspace on Swarm cannot be.
func checkSwarmConfig(cfg Config) error {
	if cfg.Mode != ModeVolumeSubpath {
		return errors.New("workspaces on Swarm need volume_subpath mode (--mount-mode volume_subpath, with --workspace-volume and --shared-volume): a task may start on any node, and only volumes go with it; bind mode is for one engine")
	}
	if cfg.Placement == PlacementShared && (cfg.volumeDriverConfig(cfg.VolumeOptions) == nil || cfg.volumeDriverConfig(cfg.SharedVolumeOptions) == nil) {
		return errors.New("placement shared needs volumes that name the same storage on every node: set --volume-opt and --shared-volume-opt (and --volume-driver): a plain local volume is empty on another node")
	}
	if err := cfg.checkVolumeConfig(); err != nil {
		return err
	}
	if cfg.ComposeProject != "" {
		return errors.New("Compose projects are not supported on Swarm: Compose runs its services on one engine (use `docker stack` for Swarm) — use --orchestrator engine")
	}
	if _, err := swarmPrivileges(cfg.SecurityOpt); err != nil {
		return err
	}
	return nil
}

// swarmPrivileges maps security options to a task's privileges; one that a
// task cannot carry is refused rather than dropped.
func swarmPrivileges(opts []string) (*swarm.Privileges, error) {
	var p *swarm.Privileges
	for _, o := range opts {
		switch k, v, _ := strings.Cut(o, "="); {
		case k == "no-new-privileges" && (v == "" || v == "true"), k == "no-new-privileges:true":
			if p == nil {
				p = &swarm.Privileges{}
			}
			p.NoNewPrivileges = true
		default:
			return nil, fmt.Errorf("security option %q cannot be given to a Swarm task (only no-new-privileges can): refused rather than dropped", o)
		}
	}
	return p, nil
}

// serviceSpec is the service of a workspace; constraints place it.
func (s *Swarm) serviceSpec(subdir string, cfg Config, mounts []mount.Mount, constraints []string) swarm.ServiceSpec {
	sp := swarmSpecFor(subdir, cfg)
	labels := map[string]string{
		LabelSubdir: subdir, LabelMode: string(cfg.Mode), LabelPlacement: string(placementOf(cfg)),
		LabelConfigHash: sp.hash(), LabelConfig: sp.json(),
	}
	if s.Version != "" {
		labels[LabelVersion] = s.Version
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	priv, _ := swarmPrivileges(cfg.SecurityOpt) // checked by checkSwarmConfig
	init := cfg.Init
	cs := &swarm.ContainerSpec{
		Image: cfg.Image, Command: sleepForever, Labels: labels, Env: cfg.Env, User: cfg.User,
		Dir: WorkspaceTarget, Init: &init, ReadOnly: cfg.ReadOnly, CapabilityAdd: cfg.CapAdd,
		CapabilityDrop: cfg.CapDrop, Privileges: priv,
	}
	for _, m := range mounts {
		cs.Mounts = append(cs.Mounts, m)
	}
	if cfg.ReadOnly {
		cs.Mounts = append(cs.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{Mode: 0o1777}})
	}
	var res *swarm.ResourceRequirements
	if cfg.NanoCPUs > 0 || cfg.Memory > 0 || cfg.PidsLimit > 0 {
		res = &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: cfg.NanoCPUs, MemoryBytes: cfg.Memory, Pids: cfg.PidsLimit}}
	}
	var nets []swarm.NetworkAttachmentConfig
	if cfg.Network != "" {
		nets = []swarm.NetworkAttachmentConfig{{Target: cfg.Network, Aliases: cfg.NetworkAliases}}
	}
	one := uint64(1)
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ServiceName(subdir), Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     res,
			Placement:     &swarm.Placement{Constraints: constraints},
			Networks:      nets,
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		// Never two tasks of one workspace by our doing: the old one
		// stops before the new one starts.
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst},
	}
}

func placementOf(cfg Config) Placement {
	if cfg.Placement == "" {
		return PlacementPinned
	}
	return cfg.Placement
}

// swarmSpecFor is the spec of a workspace service: the image by reference
// (each node resolves it), the placement recorded.
func swarmSpecFor(subdir string, cfg Config) spec {
	sp := specFor(subdir, cfg, "")
	sp.Placement = placementOf(cfg)
	return sp
}

// find returns the service of a workspace, with its task counts; nil when
// there is none. One API call.
func (s *Swarm) find(ctx context.Context, subdir string) (*swarm.Service, error) {
	name := ServiceName(subdir)
	svcs, err := s.client.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name)), Status: true})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range svcs {
		if svcs[i].Spec.Name != name {
			continue // the filter matches prefixes
		}
		svc := &svcs[i]
		switch have := svc.Spec.Labels[LabelSubdir]; {
		case have == "":
			return nil, fmt.Errorf("workspace %q: service %s is not a workspace's (it has no %s label): refused, left untouched", subdir, name, LabelSubdir)
		case have != subdir:
			return nil, fmt.Errorf("workspace %q: service %s belongs to workspace %q (two subdirs, one name): refused, left untouched", subdir, name, have)
		}
		return svc, nil
	}
	return nil, nil
}

func replicas(svc *swarm.Service) uint64 {
	if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
		return 0
	}
	return *svc.Spec.Mode.Replicated.Replicas
}

// Ensure makes sure the service of a workspace exists and its task runs:
//
//   - running: left untouched, one API call (the service with its task
//     counts);
//   - scaled to 0 (stopped): scaled to 1, and waited for until its task
//     runs;
//   - drifted (RecreateIfChanged) or RecreateAlways: updated, stop-first;
//   - missing: its directory made on a node through that node's engine
//     (with every check of [Manager.Ensure]), then created — pinned to that
//     node (PlacementPinned), or free to run on any node that can apply a
//     volume subpath (PlacementShared) — and waited for.
//
// Concurrent calls end with one service: Swarm refuses a second of one
// name, and the loser adopts the winner.
func (s *Swarm) Ensure(ctx context.Context, subdir string, cfg Config) (Result, error) {
	if err := ValidateSubdir(subdir); err != nil {
		return Result{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := checkSwarmConfig(cfg); err != nil {
		return Result{}, err
	}
	want := swarmSpecFor(subdir, cfg)
	for range maxAttempts {
		svc, err := s.find(ctx, subdir)
		if err != nil {
			return Result{}, err
		}
		if svc == nil {
			res, err := s.create(ctx, subdir, cfg)
			if errors.Is(err, errRace) {
				continue // another ensure created it first: adopt it
			}
			return res, err
		}
		res := Result{ID: svc.ID, Name: svc.Spec.Name, Subdir: subdir, Mode: cfg.Mode, Image: cfg.Image, Action: ActionRunning}
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			res.Image = cs.Image
		}
		res.Drift = swarmDrift(svc, want)
		recreate := cfg.Recreate == RecreateAlways || cfg.Recreate == RecreateIfChanged && len(res.Drift) > 0
		var force uint64
		switch {
		case recreate:
			force, err = s.update(ctx, svc, subdir, cfg)
			res.Action, res.Drift = ActionRecreated, nil
		case replicas(svc) == 0:
			spec := svc.Spec
			one := uint64(1)
			spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
			_, err = s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
			res.Action = ActionStarted
		case svc.ServiceStatus != nil && svc.ServiceStatus.RunningTasks > 0:
			return res, nil
		}
		if err != nil {
			if isSwarmRace(err) {
				continue // changed meanwhile: look again
			}
			return res, fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
		}
		var ours func(swarm.Task) bool
		if recreate { // a task of the update, not the one it replaces
			hash := want.hash()
			ours = func(t swarm.Task) bool {
				return t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.Labels[LabelConfigHash] == hash && t.Spec.ForceUpdate == force
			}
		}
		node, err := s.waitRunning(ctx, svc.ID, svc.Spec.Name, ours)
		res.Node = s.nodeName(ctx, node)
		return res, err
	}
	return Result{}, fmt.Errorf("service %s: it kept changing; gave up after %d attempts", ServiceName(subdir), maxAttempts)
}

// subpathConstraint keeps a workspace's tasks on nodes that apply a subpath.
const subpathConstraint = "node.labels." + LabelSubpathNode + "==true"

// swarmDrift is the drift of a workspace service from a spec; a service
// without the constraint that keeps it off old Engines has drifted in its
// placement (made by an early version).
func swarmDrift(svc *swarm.Service, want spec) []string {
	d := drift(svc.Spec.Labels, want)
	if !keptOffOldEngines(svc) && !slices.Contains(d, "placement") {
		d = append(d, "placement")
	}
	return d
}

// keptOffOldEngines says whether a service is constrained to the nodes
// that apply a volume subpath.
func keptOffOldEngines(svc *swarm.Service) bool {
	p := svc.Spec.TaskTemplate.Placement
	return p != nil && slices.Contains(p.Constraints, subpathConstraint)
}

// isSwarmRace: the service was changed (out of sequence) or removed
// meanwhile, or made by another caller first.
func isSwarmRace(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "update out of sequence") ||
		strings.Contains(err.Error(), "name conflicts with an existing object")
}

// create claims a new workspace (swarmclaim.go), prepares its directory on
// a node — the node of its data, pinned; any that can take it, shared —
// and creates its service.
func (s *Swarm) create(ctx context.Context, subdir string, cfg Config) (Result, error) {
	nodes, err := s.client.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("list nodes: %w", err)
	}
	defer s.placed(subdir)
	choose := func() (string, error) {
		n, err := s.chooseNode(ctx, subdir, nodes)
		if err != nil {
			return "", err
		}
		return n.ID, nil
	}
	c, err := s.claim(ctx, subdir, cfg, choose)
	if err != nil {
		return Result{}, err
	}
	// Refused or failed before its directory was made: a claim made here
	// holds nothing, and is taken back.
	fail := func(err error) (Result, error) {
		if c.created && !errors.Is(err, ErrClaimNodeGone) {
			_ = s.client.ConfigRemove(context.WithoutCancel(ctx), c.cfg.ID)
		}
		return Result{}, err
	}
	pin := c.node
	if placementOf(cfg) == PlacementShared {
		// The volumes are checked on every node that may run it.
		if err := s.checkNodes(ctx, cfg, nodes); err != nil {
			return fail(err)
		}
		if pin, err = choose(); err != nil {
			return fail(err)
		}
	}
	node, mounts, err := s.prepare(ctx, subdir, cfg, pin, nodes)
	if err != nil {
		return fail(err)
	}
	constraints, err := s.constraints(ctx, cfg, node)
	if err != nil {
		return Result{}, err
	}
	spec := s.serviceSpec(subdir, cfg, mounts, constraints)
	created, err := s.client.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{QueryRegistry: cfg.Pull == PullAlways})
	if err != nil {
		if isSwarmRace(err) {
			return Result{}, errRace
		}
		return Result{}, fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	res := Result{ID: created.ID, Name: spec.Name, Subdir: subdir, Mode: cfg.Mode, Image: cfg.Image, Action: ActionCreated}
	ran, err := s.waitRunning(ctx, created.ID, spec.Name, nil)
	res.Node = s.nodeName(ctx, ran)
	return res, err
}

// update replaces the task of a service with one of the configuration
// (stop-first), its directory made again where it will run (a changed
// volume), its pin kept. It returns the new tasks' ForceUpdate counter.
func (s *Swarm) update(ctx context.Context, svc *swarm.Service, subdir string, cfg Config) (uint64, error) {
	nodes, err := s.client.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	pin := pinnedNode(svc)
	if pin == "" { // shared: checked on every node, prepared on one
		if err := s.checkNodes(ctx, cfg, nodes); err != nil {
			return 0, err
		}
		n, err := s.chooseNode(ctx, subdir, nodes)
		s.placed(subdir)
		if err != nil {
			return 0, err
		}
		pin = n.ID
	}
	node, mounts, err := s.prepare(ctx, subdir, cfg, pin, nodes)
	if err != nil {
		return 0, err
	}
	constraints, err := s.constraints(ctx, cfg, node)
	if err != nil {
		return 0, err
	}
	spec := s.serviceSpec(subdir, cfg, mounts, constraints)
	spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate + 1
	_, err = s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
	return spec.TaskTemplate.ForceUpdate, err
}

// pinnedNode is the node a service is pinned to ("" when none).
func pinnedNode(svc *swarm.Service) string {
	if svc.Spec.TaskTemplate.Placement == nil {
		return ""
	}
	for _, c := range svc.Spec.TaskTemplate.Placement.Constraints {
		if id, ok := strings.CutPrefix(strings.ReplaceAll(c, " ", ""), "node.id=="); ok {
			return id
		}
	}
	return ""
}

// constraints place a task: on nodes that apply a volume subpath
// (LabelSubpathNode, which it puts right on every node first), and on its
// own node (pinned).
func (s *Swarm) constraints(ctx context.Context, cfg Config, node swarm.Node) ([]string, error) {
	if err := s.labelSubpathNodes(ctx); err != nil {
		return nil, err
	}
	out := []string{subpathConstraint}
	if placementOf(cfg) == PlacementPinned {
		out = append(out, "node.id=="+node.ID)
	} else {
		out = append(out, "node.labels."+storageLabel(cfg)+"==true")
	}
	return out, nil
}

// waitRunning waits, bounded, until a task of a service runs (with ours,
// one that ours accepts), saying each change of its state on Progress; it
// returns the task's node. A task that the node rejects ends it.
func (s *Swarm) waitRunning(ctx context.Context, id, name string, ours func(swarm.Task) bool) (string, error) {
	start := time.Now()
	deadline := start.Add(swarmWait)
	last, said := "", ""
	for {
		tasks, err := s.client.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id), filters.Arg("desired-state", "running"))})
		if err != nil {
			return "", fmt.Errorf("list the tasks of service %s: %w", name, err)
		}
		var cur *swarm.Task
		for i := range tasks {
			t := &tasks[i]
			if ours != nil && !ours(*t) {
				continue
			}
			if cur == nil || t.Meta.CreatedAt.After(cur.Meta.CreatedAt) {
				cur = t
			}
		}
		if cur != nil {
			node := cur.NodeID
			if cur.Status.State == swarm.TaskStateRunning {
				return node, nil
			}
			say := fmt.Sprintf("%s: task %s", name, cur.Status.State)
			if cur.Status.Err != "" {
				say += ": " + cur.Status.Err
			} else if cur.Status.Message != "" && cur.Status.State == swarm.TaskStatePending {
				say += " (" + cur.Status.Message + ")"
			}
			// Quiet while it goes as usual (a task runs within a
			// second or two); then each change is said.
			if say != said && s.Progress != nil && time.Since(start) >= swarmQuiet {
				_, _ = fmt.Fprintln(s.Progress, say)
				said = say
			}
			last = say
			switch cur.Status.State {
			case swarm.TaskStateRejected, swarm.TaskStateFailed:
				return node, fmt.Errorf("service %s: its task %s on node %s: %s", name, cur.Status.State, node, cur.Status.Err)
			}
		}
		if time.Now().After(deadline) {
			if last == "" {
				last = name + ": no task"
			}
			return "", fmt.Errorf("service %s: no task running after %s (%s); Swarm keeps trying: `docker service ps %s` tells why", name, swarmWait, last, name)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(swarmPollStep):
		}
	}
}

// waitStopped waits, bounded, until no task of a service runs on a node
// that answers (one on a node that is down is reported by List).
func (s *Swarm) waitStopped(ctx context.Context, id, name string) error {
	deadline := time.Now().Add(swarmWait)
	for {
		tasks, err := s.client.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("list the tasks of service %s: %w", name, err)
		}
		live := 0
		for _, t := range tasks {
			if !terminal(t.Status.State) {
				live++
			}
		}
		if live == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s: %d task(s) still not stopped after %s", name, live, swarmWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(swarmPollStep):
		}
	}
}

// mayRun says whether a task in that state may have a container that runs
// (or will): from its start on, until it is known to have ended.
func mayRun(st swarm.TaskState) bool {
	switch st {
	case swarm.TaskStatePreparing, swarm.TaskStateStarting, swarm.TaskStateRunning, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

func terminal(st swarm.TaskState) bool {
	switch st {
	case swarm.TaskStateShutdown, swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

// Stop scales the service of a workspace to 0 and waits until its task has
// stopped; the data stays. stopped is false when it was stopped already.
func (s *Swarm) Stop(ctx context.Context, subdir string) (stopped bool, err error) {
	for range maxAttempts {
		svc, err := s.find(ctx, subdir)
		if err != nil {
			return false, err
		}
		if svc == nil {
			return false, fmt.Errorf("%w: workspace %q has no service", ErrNoSuchWorkspace, subdir)
		}
		if replicas(svc) == 0 {
			return false, s.waitStopped(ctx, svc.ID, svc.Spec.Name)
		}
		spec := svc.Spec
		zero := uint64(0)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &zero}
		if _, err := s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{}); err != nil {
			if isSwarmRace(err) {
				continue
			}
			return false, fmt.Errorf("scale service %s to 0: %w", svc.Spec.Name, err)
		}
		return true, s.waitStopped(ctx, svc.ID, svc.Spec.Name)
	}
	return false, fmt.Errorf("service %s: it kept changing; gave up", ServiceName(subdir))
}

// Remove removes the service of a workspace and waits until its task has
// stopped; never a volume: the data stays. A service that is not scaled
// to 0 is removed only with force, as `docker rm` a running container.
func (s *Swarm) Remove(ctx context.Context, subdir string, force bool) (string, error) {
	svc, err := s.find(ctx, subdir)
	if err != nil {
		return "", err
	}
	if svc == nil {
		return "", fmt.Errorf("%w: workspace %q has no service", ErrNoSuchWorkspace, subdir)
	}
	if !force && replicas(svc) > 0 {
		return "", fmt.Errorf("workspace %q: service %s is running: stop it first, or use --force", subdir, svc.Spec.Name)
	}
	if err := s.client.ServiceRemove(ctx, svc.ID); err != nil && !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("remove service %s: %w", svc.Spec.Name, err)
	}
	return svc.ID, s.waitStopped(ctx, svc.ID, svc.Spec.Name)
}
