package swarm

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
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// Client is the part of the Docker API client that workspaces on a Swarm
// use: a manager's API.
type Client interface {
	Info(ctx context.Context) (system.Info, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	NodeList(ctx context.Context, options swarmtypes.NodeListOptions) ([]swarmtypes.Node, error)
	ServiceCreate(ctx context.Context, service swarmtypes.ServiceSpec, options swarmtypes.ServiceCreateOptions) (swarmtypes.ServiceCreateResponse, error)
	ServiceList(ctx context.Context, options swarmtypes.ServiceListOptions) ([]swarmtypes.Service, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarmtypes.Version, service swarmtypes.ServiceSpec, options swarmtypes.ServiceUpdateOptions) (swarmtypes.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	TaskList(ctx context.Context, options swarmtypes.TaskListOptions) ([]swarmtypes.Task, error)
	NodeUpdate(ctx context.Context, nodeID string, version swarmtypes.Version, node swarmtypes.NodeSpec) error
	ConfigCreate(ctx context.Context, config swarmtypes.ConfigSpec) (swarmtypes.ConfigCreateResponse, error)
	ConfigList(ctx context.Context, options swarmtypes.ConfigListOptions) ([]swarmtypes.Config, error)
	ConfigRemove(ctx context.Context, id string) error
	NetworkInspect(ctx context.Context, network string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, network string) error
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// labelSubpathNode is the node label that Ensure keeps on the nodes whose
// Engine applies a volume subpath in a task ("true"), and only on those:
// every workspace service is constrained to such nodes, so that a node of
// an older Engine — one that joins later too — never runs one (it would
// mount the whole volume: every workspace).
const labelSubpathNode = sandbox.LabelPrefix + "subpath"

// minSubpathEngine is the first Engine that applies a volume subpath in a
// Swarm task (the API has it since 1.45, the task executor since 26.1).
const minSubpathEngine = "26.1"

// Bounds of the waits for a task to run or to stop.
var (
	swarmWait     = 90 * time.Second
	swarmPollStep = 200 * time.Millisecond
	swarmQuiet    = 2 * time.Second // waits shorter than this are not said
)

// Options configure a Swarm.
type Options struct {
	// NodeEngine returns a client of a node's own engine, named by its
	// label sandbox.LabelNodeEngine (label is its value, "" when the node
	// has none): a workspace's directory is made there, with the checks of
	// the engine's own Ensure, before Swarm runs it.
	NodeEngine func(ctx context.Context, node swarmtypes.Node, label string) (sandbox.Client, error)
	// Version, when set, is recorded on new services (LabelVersion).
	Version string
	// Progress receives a line for each change of state of a task that
	// Ensure, Stop or Remove waits for; nil discards them.
	Progress io.Writer
	// Timeout bounds each call to the manager and to a node's engine (0:
	// sandbox.DefaultTimeout).
	Timeout time.Duration
	// Node are the options of the node engines' managers (pulls).
	Node engine.Options
}

// Swarm manages workspaces as services of a Docker Swarm: each workspace is
// a service of one replica, named after its container name under Swarm's
// rules (serviceName), labelled as a container is. Its data is in volumes
// (volume_subpath mode): on the node it is pinned to (PlacementPinned), or
// in storage every node reaches (PlacementShared). It implements
// sandbox.Orchestrator.
type Swarm struct {
	client Client // bounded, and a manager's refusal told in one line
	raw    Client
	limits bounded.Limits
	opts   Options

	mu      sync.Mutex
	placing map[string]string // subdir: the node this Swarm is placing it on now
	checked map[string]bool   // bind volumes' directories checked, by node
}

var _ sandbox.Orchestrator = (*Swarm)(nil)

// New returns a Swarm that talks to a manager through c. Nothing is asked
// up front: an engine that is no manager refuses the first call, and that
// refusal is told in one line (see checkManager).
func New(c Client, opts Options) *Swarm {
	s := &Swarm{raw: c, limits: bounded.NewLimits(opts.Timeout), opts: opts}
	s.client = managerClient{c: c, s: s}
	return s
}

// Traits says that a workspace is a service, whose task runs on a node.
func (s *Swarm) Traits() sandbox.Traits {
	return sandbox.Traits{Name: "swarm", Unit: "service", Nodes: true}
}

// checkManager fails, in one line, unless the engine is a Swarm manager.
func (s *Swarm) checkManager(ctx context.Context) error {
	info, err := bounded.Do(ctx, s.limits.Read, "info", false, s.raw.Info)
	if err != nil {
		return fmt.Errorf("ask the engine about its Swarm: %w", err)
	}
	switch {
	case info.Swarm.LocalNodeState != swarmtypes.LocalNodeStateActive:
		return fmt.Errorf("%w: this engine is in no Swarm (its state: %q)", sandbox.ErrNotManager, info.Swarm.LocalNodeState)
	case !info.Swarm.ControlAvailable:
		return fmt.Errorf("%w: this engine is a Swarm worker, not a manager", sandbox.ErrNotManager)
	}
	return nil
}

// serviceName is the name of the service of a workspace: its container
// name with what Swarm refuses in a name ("." and "_") replaced by "-".
// Two subdirs whose names meet are refused as for containers.
func serviceName(subdir string) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, sandbox.ContainerName(subdir))
	return strings.TrimRight(name, "-")
}

// Validate refuses, before anything is asked, a configuration that can
// never work, and what a workspace on Swarm cannot be.
func (s *Swarm) Validate(cfg sandbox.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return checkConfig(cfg)
}

// checkConfig refuses what a workspace on Swarm cannot be.
func checkConfig(cfg sandbox.Config) error {
	switch {
	case cfg.Disk > 0:
		return sandbox.DiskQuota("")
	case cfg.Mode != sandbox.ModeVolumeSubpath:
		return &sandbox.UnsupportedError{Orchestrator: "swarm", What: "bind mode (a task may start on any node, and only volumes go with it: use volume_subpath mode)"}
	case cfg.Placement == sandbox.PlacementShared && (cfg.VolumeDriverConfig(cfg.VolumeOptions) == nil || cfg.VolumeDriverConfig(cfg.SharedVolumeOptions) == nil):
		return fmt.Errorf("%w: placement shared needs volumes whose driver options name the same storage on every node: a plain local volume is empty on another node", sandbox.ErrInvalidConfig)
	case cfg.ComposeProject != "":
		return &sandbox.UnsupportedError{Orchestrator: "swarm", What: "a Compose project (Compose runs its services on one engine)"}
	case cfg.EgressMode() == egress.ModeNone:
		return &sandbox.UnsupportedError{Orchestrator: "swarm", What: "egress mode none (a Swarm task cannot be without a network)"}
	case cfg.EgressMode().Proxied():
		return &sandbox.UnsupportedError{Orchestrator: "swarm", What: "egress mode " + string(cfg.EgressMode()) + " (a Swarm holds no egress proxy; use open, or --orchestrator engine)"}
	}
	_, err := privileges(cfg.SecurityOpt)
	return err
}

// privileges maps security options to a task's privileges; one that a
// task cannot carry is refused rather than dropped.
func privileges(opts []string) (*swarmtypes.Privileges, error) {
	var p *swarmtypes.Privileges
	for _, o := range opts {
		switch k, v, _ := strings.Cut(o, "="); {
		case k == "no-new-privileges" && (v == "" || v == "true"), k == "no-new-privileges:true":
			if p == nil {
				p = &swarmtypes.Privileges{}
			}
			p.NoNewPrivileges = true
		default:
			return nil, fmt.Errorf("%w: security option %q cannot be given to a Swarm task (only no-new-privileges can): refused rather than dropped", sandbox.ErrInvalidConfig, o)
		}
	}
	return p, nil
}

// serviceSpec is the service of a workspace; constraints place it.
func (s *Swarm) serviceSpec(subdir string, cfg sandbox.Config, mounts []mount.Mount, constraints []string) swarmtypes.ServiceSpec {
	sp := specFor(subdir, cfg)
	labels := map[string]string{
		sandbox.LabelSubdir: subdir, sandbox.LabelMode: string(cfg.Mode), sandbox.LabelPlacement: string(placementOf(cfg)),
		sandbox.LabelConfigHash: sp.Hash(), sandbox.LabelConfig: sp.JSON(),
	}
	if s.opts.Version != "" {
		labels[sandbox.LabelVersion] = s.opts.Version
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	priv, _ := privileges(cfg.SecurityOpt) // checked by checkConfig
	init := cfg.Init
	cs := &swarmtypes.ContainerSpec{
		Image: cfg.Image, Command: sandbox.SleepForever, Labels: labels, Env: cfg.Env, User: cfg.User,
		Dir: sandbox.WorkspaceTarget, Init: &init, ReadOnly: cfg.ReadOnly, CapabilityAdd: cfg.CapAdd,
		CapabilityDrop: cfg.CapDrop, Privileges: priv,
	}
	cs.Mounts = append(cs.Mounts, mounts...)
	if cfg.ReadOnly {
		cs.Mounts = append(cs.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{Mode: 0o1777}})
	}
	var res *swarmtypes.ResourceRequirements
	if cfg.NanoCPUs > 0 || cfg.Memory > 0 || cfg.PidsLimit > 0 {
		res = &swarmtypes.ResourceRequirements{Limits: &swarmtypes.Limit{NanoCPUs: cfg.NanoCPUs, MemoryBytes: cfg.Memory, Pids: cfg.PidsLimit}}
	}
	nets := []swarmtypes.NetworkAttachmentConfig{{Target: networkName(subdir)}}
	if cfg.Network != "" {
		nets = []swarmtypes.NetworkAttachmentConfig{{Target: cfg.Network, Aliases: cfg.NetworkAliases}}
	}
	one := uint64(1)
	return swarmtypes.ServiceSpec{
		Annotations: swarmtypes.Annotations{Name: serviceName(subdir), Labels: labels},
		TaskTemplate: swarmtypes.TaskSpec{
			ContainerSpec: cs,
			Resources:     res,
			Placement:     &swarmtypes.Placement{Constraints: constraints},
			Networks:      nets,
		},
		Mode: swarmtypes.ServiceMode{Replicated: &swarmtypes.ReplicatedService{Replicas: &one}},
		// Never two tasks of one workspace by our doing: the old one
		// stops before the new one starts.
		UpdateConfig: &swarmtypes.UpdateConfig{Parallelism: 1, Order: swarmtypes.UpdateOrderStopFirst},
	}
}

func placementOf(cfg sandbox.Config) sandbox.Placement {
	if cfg.Placement == "" {
		return sandbox.PlacementPinned
	}
	return cfg.Placement
}

// specFor is the spec of a workspace service: the image by reference
// (each node resolves it), the placement recorded.
func specFor(subdir string, cfg sandbox.Config) sandbox.Spec {
	sp := sandbox.SpecFor(subdir, cfg, "")
	sp.Placement = placementOf(cfg)
	return sp
}

// find returns the service of a workspace, with its task counts; nil when
// there is none. One API call.
func (s *Swarm) find(ctx context.Context, subdir string) (*swarmtypes.Service, error) {
	name := serviceName(subdir)
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name)), Status: true})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range svcs {
		if svcs[i].Spec.Name != name {
			continue // the filter matches prefixes
		}
		svc := &svcs[i]
		switch have := svc.Spec.Labels[sandbox.LabelSubdir]; {
		case have == "":
			return nil, fmt.Errorf("%w: service %s is not a workspace's (it has no %s label): refused, left untouched", sandbox.ErrNotThisWorkspace, name, sandbox.LabelSubdir)
		case have != subdir:
			return nil, fmt.Errorf("%w: service %s belongs to workspace %q (two subdirs, one name): refused, left untouched", sandbox.ErrNotThisWorkspace, name, have)
		}
		return svc, nil
	}
	return nil, nil
}

func replicas(svc *swarmtypes.Service) uint64 {
	if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
		return 0
	}
	return *svc.Spec.Mode.Replicated.Replicas
}

// errRace: the service was made, changed or removed meanwhile: look again.
var errRace = errors.New("the service changed meanwhile")

// maxAttempts bounds the looks of a call at a service that keeps changing.
const maxAttempts = 100

// Ensure makes sure the service of a workspace exists and its task runs:
//
//   - running: left untouched, one API call (the service with its task
//     counts);
//   - scaled to 0 (stopped): scaled to 1, and waited for until its task
//     runs;
//   - drifted (RecreateIfChanged) or RecreateAlways: updated, stop-first;
//   - missing: its directory made on a node through that node's engine
//     (with every check of the engine's own Ensure), then created — pinned
//     to that node (PlacementPinned), or free to run on any node that can
//     apply a volume subpath (PlacementShared) — and waited for.
//
// Concurrent calls end with one service: Swarm refuses a second of one
// name, and the loser adopts the winner.
func (s *Swarm) Ensure(ctx context.Context, subdir string, cfg sandbox.Config, _ ...sandbox.EnsureOption) (sandbox.Result, error) {
	if err := sandbox.ValidateSubdir(subdir); err != nil {
		return sandbox.Result{}, err
	}
	if err := cfg.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	if err := checkConfig(cfg); err != nil {
		return sandbox.Result{}, err
	}
	for range maxAttempts {
		res, err := s.ensureOnce(ctx, subdir, cfg)
		if !errors.Is(err, errRace) {
			return res, sandbox.WorkspaceErr(subdir, "ensure", err)
		}
	}
	return sandbox.Result{}, sandbox.WorkspaceErr(subdir, "ensure", fmt.Errorf("service %s: it kept changing; gave up after %d attempts", serviceName(subdir), maxAttempts))
}

// ensureOnce looks at the service once and does what it needs; errRace:
// look again.
func (s *Swarm) ensureOnce(ctx context.Context, subdir string, cfg sandbox.Config) (sandbox.Result, error) {
	svc, err := s.find(ctx, subdir)
	if err != nil {
		return sandbox.Result{}, err
	}
	if svc == nil {
		return s.create(ctx, subdir, cfg) // errRace: another ensure created it first: adopt it
	}
	want := specFor(subdir, cfg)
	res := sandbox.Result{ID: svc.ID, Name: svc.Spec.Name, Subdir: subdir, Mode: cfg.Mode, Image: cfg.Image, Action: sandbox.ActionRunning}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		res.Image = cs.Image
	}
	res.Drift = serviceDrift(svc, want)
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		res.Drift = sandbox.DriftEnv(res.Drift, cs.Env, cfg.Env)
	}
	var ours func(swarmtypes.Task) bool
	switch {
	case cfg.Recreate == sandbox.RecreateAlways || cfg.Recreate == sandbox.RecreateIfChanged && len(res.Drift) > 0:
		var force uint64
		force, err = s.update(ctx, svc, subdir, cfg)
		res.Action, res.Drift = sandbox.ActionRecreated, nil
		hash := want.Hash() // a task of the update, not the one it replaces
		ours = func(t swarmtypes.Task) bool {
			return t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.Labels[sandbox.LabelConfigHash] == hash && t.Spec.ForceUpdate == force
		}
	case replicas(svc) == 0:
		err = s.scale(ctx, svc, 1)
		res.Action = sandbox.ActionStarted
	case svc.ServiceStatus != nil && svc.ServiceStatus.RunningTasks > 0:
		return res, nil
	}
	if err != nil {
		if enginemsg.SwarmRace(err) {
			return res, errRace // changed meanwhile: look again
		}
		return res, fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
	}
	node, err := s.waitRunning(ctx, svc.ID, svc.Spec.Name, ours)
	res.Node = s.nodeName(ctx, node)
	return res, err
}

// scale sets the replicas of a service.
func (s *Swarm) scale(ctx context.Context, svc *swarmtypes.Service, n uint64) error {
	spec := svc.Spec
	spec.Mode.Replicated = &swarmtypes.ReplicatedService{Replicas: &n}
	_, err := s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarmtypes.ServiceUpdateOptions{})
	return err
}

// subpathConstraint keeps a workspace's tasks on nodes that apply a subpath.
const subpathConstraint = "node.labels." + labelSubpathNode + "==true"

// serviceDrift is the drift of a workspace service from a spec; a service
// without the constraint that keeps it off old Engines has drifted in its
// placement (made by an early version).
func serviceDrift(svc *swarmtypes.Service, want sandbox.Spec) []string {
	d := sandbox.Drift(svc.Spec.Labels, want)
	if !keptOffOldEngines(svc) && !slices.Contains(d, "placement") {
		d = append(d, "placement")
	}
	return d
}

// keptOffOldEngines says whether a service is constrained to the nodes
// that apply a volume subpath.
func keptOffOldEngines(svc *swarmtypes.Service) bool {
	p := svc.Spec.TaskTemplate.Placement
	return p != nil && slices.Contains(p.Constraints, subpathConstraint)
}

// create claims a new workspace (swarmclaim.go), prepares its directory on
// a node — the node of its data, pinned; any that can take it, shared —
// and creates its service.
func (s *Swarm) create(ctx context.Context, subdir string, cfg sandbox.Config) (res sandbox.Result, err error) {
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{})
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("list nodes: %w", err)
	}
	if err := s.ownNetwork(ctx, subdir, cfg); err != nil {
		return sandbox.Result{}, err
	}
	defer s.dropNetworkOnFailure(ctx, subdir, cfg, &err)
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
		return sandbox.Result{}, err
	}
	// Refused or failed before its directory was made: a claim made here
	// holds nothing, and is taken back.
	fail := func(err error) (sandbox.Result, error) {
		if c.created && !errors.Is(err, sandbox.ErrNodeGone) {
			_ = s.client.ConfigRemove(context.WithoutCancel(ctx), c.cfg.ID)
		}
		return sandbox.Result{}, err
	}
	pin := c.node
	if placementOf(cfg) == sandbox.PlacementShared {
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
		return sandbox.Result{}, err
	}
	spec := s.serviceSpec(subdir, cfg, mounts, constraints)
	created, err := s.client.ServiceCreate(ctx, spec, swarmtypes.ServiceCreateOptions{QueryRegistry: cfg.Pull == sandbox.PullAlways})
	if err != nil {
		if enginemsg.SwarmRace(err) {
			return sandbox.Result{}, errRace
		}
		if strings.Contains(err.Error(), "network "+networkName(subdir)+" not found") {
			// Its network, being removed (by the rm of a workspace of the
			// subdir a moment ago) when it was looked at: made again.
			time.Sleep(200 * time.Millisecond)
			return sandbox.Result{}, errRace
		}
		return sandbox.Result{}, fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	res = sandbox.Result{ID: created.ID, Name: spec.Name, Subdir: subdir, Mode: cfg.Mode, Image: cfg.Image, Action: sandbox.ActionCreated}
	ran, err := s.waitRunning(ctx, created.ID, spec.Name, nil)
	res.Node = s.nodeName(ctx, ran)
	return res, err
}

// update replaces the task of a service with one of the configuration
// (stop-first), its directory made again where it will run (a changed
// volume), its pin kept. It returns the new tasks' ForceUpdate counter.
func (s *Swarm) update(ctx context.Context, svc *swarmtypes.Service, subdir string, cfg sandbox.Config) (uint64, error) {
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	if err := s.ownNetwork(ctx, subdir, cfg); err != nil {
		return 0, err
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
	_, err = s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarmtypes.ServiceUpdateOptions{})
	return spec.TaskTemplate.ForceUpdate, err
}

// pinnedNode is the node a service is pinned to ("" when none).
func pinnedNode(svc *swarmtypes.Service) string {
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
// (labelSubpathNode, which it puts right on every node first), and on its
// own node (pinned).
func (s *Swarm) constraints(ctx context.Context, cfg sandbox.Config, node swarmtypes.Node) ([]string, error) {
	if err := s.labelSubpathNodes(ctx); err != nil {
		return nil, err
	}
	out := []string{subpathConstraint}
	if placementOf(cfg) == sandbox.PlacementPinned {
		out = append(out, "node.id=="+node.ID)
	} else {
		out = append(out, "node.labels."+storageLabel(cfg)+"==true")
	}
	return out, nil
}

// waitRunning waits, bounded, until a task of a service runs (with ours,
// one that ours accepts), saying each change of its state on Progress; it
// returns the task's node. A task that the node rejects ends it.
func (s *Swarm) waitRunning(ctx context.Context, id, name string, ours func(swarmtypes.Task) bool) (string, error) {
	start := time.Now()
	deadline := start.Add(swarmWait)
	last, said := "", ""
	var saidOf progressMark
	for {
		cur, err := s.newestTask(ctx, id, name, ours)
		if err != nil {
			return "", err
		}
		if cur != nil {
			if cur.Status.State == swarmtypes.TaskStateRunning {
				return cur.NodeID, nil
			}
			say := taskState(name, cur)
			// Quiet while it goes as usual (a task runs within a
			// second or two); then each change is said, forward only.
			if say != said && s.opts.Progress != nil && time.Since(start) >= swarmQuiet && saidOf.forward(cur) {
				_, _ = fmt.Fprintln(s.opts.Progress, say)
				said = say
			}
			last = say
			if cur.Status.State == swarmtypes.TaskStateRejected || cur.Status.State == swarmtypes.TaskStateFailed {
				return cur.NodeID, fmt.Errorf("service %s: its task %s on node %s: %s", name, cur.Status.State, cur.NodeID, cur.Status.Err)
			}
		}
		if time.Now().After(deadline) {
			if last == "" {
				last = name + ": no task"
			}
			return "", fmt.Errorf("service %s: no task running after %s (%s); Swarm keeps trying", name, swarmWait, last)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(swarmPollStep):
		}
	}
}

// newestTask is the newest task of a service that is to run (with ours,
// that ours accepts); nil when there is none.
func (s *Swarm) newestTask(ctx context.Context, id, name string, ours func(swarmtypes.Task) bool) (*swarmtypes.Task, error) {
	tasks, err := s.client.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id), filters.Arg("desired-state", "running"))})
	if cerrdefs.IsNotFound(err) {
		return nil, errRace // removed meanwhile (an rm racing): look again, and make it anew
	}
	if err != nil {
		return nil, fmt.Errorf("list the tasks of service %s: %w", name, err)
	}
	var cur *swarmtypes.Task
	for i := range tasks {
		t := &tasks[i]
		if ours != nil && !ours(*t) {
			continue
		}
		if cur == nil || t.CreatedAt.After(cur.CreatedAt) {
			cur = t
		}
	}
	return cur, nil
}

// progressMark is the task whose state was said last, and how far it was.
type progressMark struct {
	task string
	rank int
}

// forward says whether t's state is news: a later state of the task said
// last, or any state of a newer task. A listing that still shows an
// earlier state (the manager's view lags a node's report) is not said: the
// lines never go back.
func (m *progressMark) forward(t *swarmtypes.Task) bool {
	r := slices.Index(taskStates, t.Status.State)
	if t.ID == m.task && r < m.rank {
		return false
	}
	m.task, m.rank = t.ID, r
	return true
}

// taskStates are a task's states in the order it goes through them.
var taskStates = []swarmtypes.TaskState{
	swarmtypes.TaskStateNew, swarmtypes.TaskStateAllocated, swarmtypes.TaskStatePending, swarmtypes.TaskStateAssigned,
	swarmtypes.TaskStateAccepted, swarmtypes.TaskStateReady, swarmtypes.TaskStatePreparing, swarmtypes.TaskStateStarting,
	swarmtypes.TaskStateRunning, swarmtypes.TaskStateComplete, swarmtypes.TaskStateShutdown, swarmtypes.TaskStateFailed,
	swarmtypes.TaskStateRejected, swarmtypes.TaskStateRemove, swarmtypes.TaskStateOrphaned,
}

// taskState says the state of a task, and why when it tells.
func taskState(name string, t *swarmtypes.Task) string {
	say := fmt.Sprintf("%s: task %s", name, t.Status.State)
	if t.Status.Err != "" {
		say += ": " + t.Status.Err
	} else if t.Status.Message != "" && t.Status.State == swarmtypes.TaskStatePending {
		say += " (" + t.Status.Message + ")"
	} else if t.Status.State == swarmtypes.TaskStatePreparing && t.Spec.ContainerSpec != nil {
		// Preparing is the node pulling: say it, not ten silent seconds.
		say += " (node " + t.NodeID + " pulls " + t.Spec.ContainerSpec.Image + ")"
	}
	return say
}

// waitStopped waits, bounded, until no task of a service runs on a node
// that answers (one on a node that is down is reported by List).
func (s *Swarm) waitStopped(ctx context.Context, id, name string) error {
	deadline := time.Now().Add(swarmWait)
	for {
		tasks, err := s.client.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
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
func mayRun(st swarmtypes.TaskState) bool {
	switch st {
	case swarmtypes.TaskStatePreparing, swarmtypes.TaskStateStarting, swarmtypes.TaskStateRunning, swarmtypes.TaskStateOrphaned:
		return true
	}
	return false
}

func terminal(st swarmtypes.TaskState) bool {
	switch st {
	case swarmtypes.TaskStateShutdown, swarmtypes.TaskStateComplete, swarmtypes.TaskStateFailed, swarmtypes.TaskStateRejected, swarmtypes.TaskStateRemove, swarmtypes.TaskStateOrphaned:
		return true
	}
	return false
}

// Stop scales the service of a workspace that Resolve found to 0 and waits
// until its task has stopped; the data stays. One gone meanwhile gives an
// error that wraps sandbox.ErrNoSuchWorkspace.
func (s *Swarm) Stop(ctx context.Context, w sandbox.Workspace, opts sandbox.StopOptions) error {
	if opts.Signal != "" || opts.Timeout != nil {
		return &sandbox.UnsupportedError{Orchestrator: "swarm", What: "a stop signal or timeout", Why: "a service's stop grace period and signal are its own"}
	}
	for range maxAttempts {
		svc, err := s.service(ctx, w)
		if err != nil {
			return err
		}
		if replicas(svc) == 0 {
			return s.waitStopped(ctx, svc.ID, svc.Spec.Name)
		}
		if err := s.scale(ctx, svc, 0); err != nil {
			if enginemsg.SwarmRace(err) {
				continue
			}
			return fmt.Errorf("scale service %s to 0: %w", svc.Spec.Name, err)
		}
		return s.waitStopped(ctx, svc.ID, svc.Spec.Name)
	}
	return fmt.Errorf("service %s: it kept changing; gave up", w.Name)
}

// Remove removes the service of a workspace that Resolve found and waits
// until its task has stopped; never a volume: the data stays. A service
// that is not scaled to 0 is removed only with force, as `docker rm` a
// running container.
func (s *Swarm) Remove(ctx context.Context, w sandbox.Workspace, opts sandbox.RemoveOptions) error {
	svc, err := s.service(ctx, w)
	if err != nil {
		return err
	}
	if !opts.Force && replicas(svc) > 0 {
		return fmt.Errorf("service %s is running: stop it first, or remove it with force", svc.Spec.Name)
	}
	// The manager forgets a removed service's tasks at once, while their
	// containers still stop: they are looked at where they run.
	tasks, err := s.client.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID))})
	if err != nil {
		return fmt.Errorf("list the tasks of service %s: %w", svc.Spec.Name, err)
	}
	if err := s.client.ServiceRemove(ctx, svc.ID); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: service %s is gone", sandbox.ErrNoSuchWorkspace, w.Name)
		}
		return fmt.Errorf("remove service %s: %w", svc.Spec.Name, err)
	}
	if err := s.waitStopped(ctx, svc.ID, svc.Spec.Name); err != nil {
		return err
	}
	if err := s.waitContainersGone(ctx, tasks, svc.Spec.Name); err != nil {
		return err
	}
	if subdir := svc.Spec.Labels[sandbox.LabelSubdir]; subdir != "" {
		s.removeNetwork(ctx, subdir)
	}
	return nil
}

// waitContainersGone waits until the containers of a removed service's
// tasks no longer run on their nodes' engines (new-user pass 10: rm -f
// returned while they still ran). A node whose engine cannot be asked is
// not waited for.
func (s *Swarm) waitContainersGone(ctx context.Context, tasks []swarmtypes.Task, name string) error {
	deadline := time.Now().Add(swarmWait)
	for _, t := range tasks {
		if t.Status.ContainerStatus == nil || t.Status.ContainerStatus.ContainerID == "" || !mayRun(t.Status.State) {
			continue
		}
		nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", t.NodeID))})
		if err != nil || len(nodes) != 1 {
			continue
		}
		c, err := s.nodeClient(ctx, nodes[0])
		if err != nil {
			continue
		}
		for running(ctx, c, t.Status.ContainerStatus.ContainerID) {
			if time.Now().After(deadline) {
				return fmt.Errorf("service %s: the container of its task still runs on %s after %s", name, nodeName(nodes[0]), swarmWait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(swarmPollStep):
			}
		}
	}
	return nil
}

// running says whether a container still runs (false when it cannot be
// told).
func running(ctx context.Context, c sandbox.Client, id string) bool {
	ctr, err := c.ContainerInspect(ctx, id)
	return err == nil && ctr.State != nil && (ctr.State.Running || ctr.State.Status == container.StateRemoving)
}

// service is the service of a workspace that Resolve found, as it is now.
func (s *Swarm) service(ctx context.Context, w sandbox.Workspace) (*swarmtypes.Service, error) {
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("id", w.ID))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range svcs {
		if svcs[i].ID == w.ID {
			return &svcs[i], nil
		}
	}
	return nil, fmt.Errorf("%w: service %s is gone", sandbox.ErrNoSuchWorkspace, w.Name)
}
