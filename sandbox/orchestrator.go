package sandbox

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Orchestrator is where workspaces run: the containers of one engine
// (package engine), or the services of an orchestrator of several nodes
// (package swarm). Every command reaches workspaces through it, and never
// asks which one answers; a verb that only some orchestrators have is on a
// narrower interface ([Containers]).
type Orchestrator interface {
	// Traits tells what the orchestrator is and can do.
	Traits() Traits
	// Validate refuses, before anything is asked of anyone, a
	// configuration that the orchestrator cannot serve; its errors wrap
	// ErrInvalidConfig or ErrNotSupported.
	Validate(cfg Config) error
	// Ensure makes sure the workspace of subdir exists and runs.
	Ensure(ctx context.Context, subdir string, cfg Config, opts ...EnsureOption) (Result, error)
	// List returns the workspaces, sorted by name.
	List(ctx context.Context) ([]Workspace, error)
	// Resolve finds what each reference names: a subdir, the name of a
	// workspace's container (or service), its ID or a unique prefix of it.
	Resolve(ctx context.Context, refs []string) ([]Target, error)
	// Stop stops a workspace that Resolve found; its data stays. One that
	// is gone meanwhile gives an error that wraps ErrNoSuchWorkspace.
	Stop(ctx context.Context, w Workspace, opts StopOptions) error
	// Remove removes the container (or service) of a workspace that
	// Resolve found: never a volume, never a directory. One that is gone
	// meanwhile gives an error that wraps ErrNoSuchWorkspace.
	Remove(ctx context.Context, w Workspace, opts RemoveOptions) error
	// Update changes the limits of a workspace that Resolve found, and
	// keeps them so that drift compares with them: an engine's container
	// live, without a restart; a service through a service update, which
	// replaces its task. A limit the engine would ignore is refused
	// (ErrNotSupported) before anything changes.
	Update(ctx context.Context, w Workspace, l Limits) error
	// CheckDrift fills in the Drift of each workspace: what differs from
	// the container (or service) cfg defines, or, with a nil cfg, what
	// changed under it since it was made.
	CheckDrift(ctx context.Context, ws []Workspace, cfg *Config) error
	// Locate finds the container of a workspace that Resolve or Ensure
	// found, for exec and cp; one without a container there (a service
	// without a running task) gives an error that wraps ErrNotRunning.
	Locate(ctx context.Context, w Workspace) (Location, error)
	// LoginShell is the login shell of the user a located container runs
	// as ("sh" when its /etc/passwd does not tell).
	LoginShell(ctx context.Context, loc Location, user string) (string, error)
	// Check tells whether the orchestrator can serve cfg (doctor); it
	// changes nothing.
	Check(ctx context.Context, cfg Config) (Report, error)
	// Egress tells how a workspace that Resolve found reaches the network,
	// and its proxy's rules in force (allowlist, public); with a change,
	// the rules are changed first, live, without a restart.
	Egress(ctx context.Context, w Workspace, change *EgressChange) (EgressState, error)
	// EgressLog streams the decisions of a workspace's egress proxy, one
	// JSON line each (proxy.Entry).
	EgressLog(ctx context.Context, w Workspace, opts EgressLogOptions) (io.ReadCloser, error)
	// Events streams what happens to the workspaces, each with its reason,
	// as the engine (or Swarm) tells it: those of plain docker commands
	// too. The event channel closes when the stream ends; the error channel
	// then says why (nil once opts.Until is reached). Cancel ctx to stop.
	Events(ctx context.Context, opts EventOptions) (<-chan Event, <-chan error)
}

// EgressChange adds rules to a workspace proxy's allow list (Allow) or
// to its deny list; a rule moves from the other list.
type EgressChange struct {
	Allow bool
	Rules []string
}

// EgressState is how a workspace reaches the network.
type EgressState struct {
	Mode egress.Mode
	// Network is the network it is on: its own (proxied modes), the
	// shared one of open mode, or the operator's.
	Network string
	// Proxy is its egress proxy's container, and Policy its rules in
	// force (proxied modes).
	Proxy  string
	Policy *egress.Policy
}

// EgressLogOptions say which decisions EgressLog streams.
type EgressLogOptions struct {
	Follow bool      // and those to come
	Since  time.Time // only those since (zero: all)
	Tail   string    // only the last N ("all": all)
}

// Containers is an [Orchestrator] of one engine's containers, with the
// verbs that only it has. A caller asks for it by a type assertion, and
// refuses in one place what the orchestrator in use does not have.
type Containers interface {
	Orchestrator
	// Restart restarts a workspace's container, after the checks of every
	// start.
	Restart(ctx context.Context, w Workspace, opts StopOptions) error
	// Inspect tells what a workspace's container is.
	Inspect(ctx context.Context, w Workspace) (Info, error)
	// Prune removes stopped workspace containers (never their data) and
	// leftovers of interrupted runs.
	Prune(ctx context.Context, opts PruneOptions) (PruneReport, error)
	// NewReaper returns a reaper of idle workspaces.
	NewReaper(opts ReapOptions) Reaper
	// ResolveCompose turns the volume and network names of cfg, written as
	// a Compose file writes them, into those of cfg.ComposeProject.
	ResolveCompose(ctx context.Context, cfg *Config) error
	// ComposeDefaultNetwork is the default network of a Compose project
	// ("" when it has none).
	ComposeDefaultNetwork(ctx context.Context, project string) (string, error)
	// StopForProject and RemoveForProject stop or remove the container of
	// subdir if it was made for the Compose project; found is false when
	// there is none of that project.
	StopForProject(ctx context.Context, project, subdir string, opts StopOptions) (found bool, err error)
	RemoveForProject(ctx context.Context, project, subdir string) (found bool, err error)
	// Forget removes the record of a workspace that has no container (see
	// the registry): its place is free again, for a workspace above or
	// below it. Its data stays where it is.
	Forget(ctx context.Context, subdir string, cfg Config) error
}

// Traits are what an orchestrator is and can do, for what a caller shows
// and asks.
type Traits struct {
	// Name is the orchestrator's name: "engine", "swarm".
	Name string
	// Unit is what a workspace is there: "container", "service".
	Unit string
	// Nodes: workspaces run on nodes; results and lists say which.
	Nodes bool
	// StopOptions: Stop honours a timeout and a signal.
	StopOptions bool
	// BindMode: bind mode can be served.
	BindMode bool
}

// Action says what Ensure did.
type Action string

const (
	// ActionCreated means: the container did not exist; it was created and started.
	ActionCreated Action = "created"
	// ActionRecreated means: the container was replaced (drift, dead, or
	// RecreateAlways), keeping the workspace data.
	ActionRecreated Action = "recreated"
	// ActionStarted means: the container existed, stopped; it was started.
	ActionStarted Action = "started"
	// ActionUnpaused means: the container existed, paused; it was unpaused.
	ActionUnpaused Action = "unpaused"
	// ActionRunning means: the container was running; nothing was done.
	ActionRunning Action = "running"
)

// Result describes the workspace after Ensure.
type Result struct {
	ID     string
	Name   string
	Subdir string
	Action Action
	Mode   MountMode
	Image  string
	// Drift names what of the container differs from the configuration
	// (see [Drift]); empty when it matches or was created; for a container
	// recreated, what differed (why it was replaced).
	Drift []string
	// Node is the node that runs the workspace (orchestrators of nodes).
	Node string
	// ComposeProject is the Compose project the container was made for
	// ("": none).
	ComposeProject string
}

// Workspace is a workspace as List finds it.
type Workspace struct {
	// ID is its container's (or service's) ID, Name its name.
	ID   string
	Name string
	// Subdir is the workspace subdir; empty for a container made by the
	// original gateway module, which recorded none.
	Subdir string
	Mode   MountMode
	// Image is the image reference the container was made from; ImageID
	// the image it runs.
	Image   string
	ImageID string
	// State is the engine's state word ("running", "exited", ...), Status
	// its human text ("Up 2 minutes").
	State   string
	Status  string
	Created time.Time
	Labels  map[string]string
	// Drift names what differs (see CheckDrift).
	Drift []string
	// On an orchestrator of nodes: Node is where it runs (or the node it
	// is pinned to), ContainerID its container there, and Warnings what
	// needs an operator.
	Node        string
	ContainerID string
	Warnings    []string
}

// A Target is what a reference to a workspace resolves to.
type Target struct {
	// Ref is the reference as given.
	Ref string
	// Subdir is the workspace's subdir; empty for a container of the
	// original module named by its name or ID.
	Subdir string
	// Workspace is what Ref names; nil when it names a valid subdir that
	// has no container (or service).
	Workspace *Workspace
	// Named says that Ref named a container or service (its name or ID)
	// rather than a subdir, or looks like it does (gws-…, or 12+
	// hexadecimal digits).
	Named bool
	// Err is why Ref names nothing usable (another workspace's container,
	// an ambiguous ID prefix, an invalid subdir, nothing at all).
	Err error
}

// DefaultTimeout bounds each engine call (create, start, remove, copy,
// inspect, list…). A pull is not bounded: it takes as long as the image
// takes.
const DefaultTimeout = 60 * time.Second

// DefaultStopTimeout is how long Stop waits, in seconds, before it kills.
const DefaultStopTimeout = 15

// StopOptions say how a workspace is stopped.
type StopOptions struct {
	// Timeout is how long to wait, in seconds, after the stop signal before
	// killing the container; nil: DefaultStopTimeout.
	Timeout *int
	// Signal is the stop signal ("SIGTERM", "9"…); empty: the container's.
	Signal string
}

// Seconds is the stop timeout in seconds.
func (o StopOptions) Seconds() int {
	if o.Timeout != nil {
		return *o.Timeout
	}
	return DefaultStopTimeout
}

// RemoveOptions say how a workspace's container (or service) is removed.
type RemoveOptions struct {
	// Force removes a running one too (it is killed).
	Force bool
}

// Location is where the running container of a workspace is.
type Location struct {
	ContainerID string
	// Engine names the engine that runs it when it is not the
	// orchestrator's own (a node's: a Docker context name or an endpoint);
	// "" for the orchestrator's own engine.
	Engine string
	// User is the user the container runs as (its Config.User).
	User string
	// Labels are the workspace's (its container's or service's).
	Labels map[string]string
}

// Info is what Inspect tells of a workspace.
type Info struct {
	ID      string
	Name    string
	Subdir  string
	Mode    MountMode
	Created string
	State   *container.State
	Image   string
	ImageID string
	// Mounts are the container's mounts as the engine reports them.
	Mounts []container.MountPoint
	// Config is the configuration the container was made with, as it
	// recorded it (environment names only), by key as it recorded them
	// (a template reaches them: {{.Config.imageId}}); nil (null) for a
	// container of the original module.
	Config map[string]any
	// Drift names what changed under the container since it was made
	// ("image": its image reference names another image now).
	Drift          []string
	ComposeProject string
	Labels         map[string]string
}

// PruneOptions say which stopped workspace containers Prune removes.
type PruneOptions struct {
	// Until: only those made before it (zero: any).
	Until time.Time
	// Labels: only those with each label ("key" or "key=value").
	Labels []string
	// ComposeProject: only those made for this Compose project.
	ComposeProject string
}

// PruneReport is what Prune removed.
type PruneReport struct {
	Removed        []Workspace
	SpaceReclaimed uint64
	// Egress are the egress proxies removed (with their state and
	// network): those of the workspaces removed, and those left without
	// a workspace.
	Egress []string
}

// A Reaper stops the workspaces that stay idle; see [ReapOptions].
type Reaper interface {
	// Pass looks at every running workspace once, at now, and stops those
	// that have been idle for IdleFor.
	Pass(ctx context.Context, now time.Time) ([]Decision, error)
	// Once is the pass of a reaper that does not stay (cron): it stops the
	// workspaces that have run for IdleFor and are idle over window.
	Once(ctx context.Context, window time.Duration) ([]Decision, error)
}

// ReapOptions configure a Reaper.
type ReapOptions struct {
	// IdleFor is how long a workspace must be idle to be stopped.
	IdleFor time.Duration
	// CPU is the share of one CPU above which a workspace is busy
	// (0: DefaultReapCPU).
	CPU float64
	// Select, when set, chooses the workspaces the Reaper looks after.
	Select func(Workspace) bool
	// Stop is how a workspace is stopped.
	Stop StopOptions
	// Pause pauses an idle workspace instead of stopping it: its
	// processes are frozen, its memory kept; the next ensure (exec,
	// shell) unpauses it, as it starts a stopped one.
	Pause bool
}

// DefaultReapCPU is the CPU use (a share of one CPU) below which a
// workspace counts as idle.
const DefaultReapCPU = 0.01

// A Decision is what a Reaper concluded about one workspace in one pass.
type Decision struct {
	Workspace Workspace
	// Action is "busy", "idle" (for IdleSince so far), "stopped" or
	// "paused".
	Action    string
	Why       string
	IdleSince time.Time
}

// EnsureOption changes what Ensure does.
type EnsureOption func(*EnsureOptions)

// EnsureOptions are the options of one Ensure, as an orchestrator reads
// them.
type EnsureOptions struct {
	// Shared is what the Ensure calls of one command share.
	Shared *Shared
	// TellDrift says a drift found on the event stream (an EventDrift
	// event): one more call, when there is a drift.
	TellDrift bool
}

// WithDriftEvent makes Ensure say a drift it finds as an event
// (EventDrift), as the ensure command does; exec's Ensure does not.
func WithDriftEvent() EnsureOption {
	return func(o *EnsureOptions) { o.TellDrift = true }
}

// WithShared makes Ensure share with the other Ensure calls of one command
// what they all need once (the image, inspected and pulled at most once).
func WithShared(s *Shared) EnsureOption {
	return func(o *EnsureOptions) { o.Shared = s }
}

// EnsureOpts collects the options.
func EnsureOpts(opts []EnsureOption) EnsureOptions {
	var o EnsureOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Shared holds what the Ensure calls of one command need once: each value
// is made by the first call that needs it. Safe for concurrent use.
type Shared struct {
	mu     sync.Mutex
	values map[string]*sharedValue
}

type sharedValue struct {
	once sync.Once
	v    any
	err  error
}

// NewShared returns what one command's Ensure calls share.
func NewShared() *Shared { return &Shared{} }

// Do returns the value of key, made by make the first time it is asked.
// A nil Shared makes it every time.
func (s *Shared) Do(key string, make func() (any, error)) (any, error) {
	if s == nil {
		return make()
	}
	s.mu.Lock()
	if s.values == nil {
		s.values = map[string]*sharedValue{}
	}
	v, ok := s.values[key]
	if !ok {
		v = &sharedValue{}
		s.values[key] = v
	}
	s.mu.Unlock()
	v.once.Do(func() { v.v, v.err = make() })
	return v.v, v.err
}
