package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Bounds of Ensure's waiting for a container that changes state under it.
const (
	maxAttempts   = 100
	maxStateWait  = 60 * time.Second
	firstBackoff  = 50 * time.Millisecond
	maxBackoff    = time.Second
	removeTimeout = 30 * time.Second
)

// deadWait is how long a dead container is given to disappear (dead is a
// step of its removal) before Ensure removes it itself.
var deadWait = 5 * time.Second

// errRace: another caller created, renamed or removed the container
// meanwhile; Ensure looks again.
var errRace = errors.New("the container changed meanwhile")

// observed is what Ensure found of a workspace's container.
type observed struct {
	missing bool
	state   container.ContainerState
	// drift names what differs from the configuration.
	drift []string
	// replaced: this call has replaced it already (RecreateAlways is
	// satisfied), or removed it as dead.
	replaced bool
	ctr      *container.InspectResponse
	// img is the configured image, when it was looked at.
	img *image.InspectResponse
	// proxyRuns tells, in a proxied egress mode, whether its egress proxy
	// runs: asked beside the container's inspect (one round trip).
	proxyRuns func() (bool, error)
}

// step is what Ensure does next.
type step int

const (
	stepCreate      step = iota // make the container
	stepWaitRemoved             // it is being removed: wait, look again
	stepRemoveDead              // dead (a step of removal): let it go, finish it, look again
	stepRecreate                // replace it, keeping the data
	stepKeep                    // running as it should: nothing to do
	stepUnpause                 // paused: unpause
	stepStart                   // created or exited: the checks of a start, then start
	stepWait                    // restarting: wait, look again
	stepUnknown                 // a state Ensure does not know: refuse
)

// decide is what Ensure does with what it observed, under a recreate
// policy. It asks nothing of anyone.
func decide(o observed, policy sandbox.RecreatePolicy) step {
	switch {
	case o.missing:
		return stepCreate
	case o.state == container.StateRemoving:
		return stepWaitRemoved
	case o.state == container.StateDead:
		return stepRemoveDead
	case policy == sandbox.RecreateAlways && !o.replaced, policy == sandbox.RecreateIfChanged && len(o.drift) > 0:
		return stepRecreate
	}
	switch o.state {
	case container.StateRunning:
		return stepKeep
	case container.StatePaused:
		return stepUnpause
	case container.StateCreated, container.StateExited:
		return stepStart
	case container.StateRestarting:
		return stepWait
	}
	return stepUnknown
}

// Ensure makes sure that the container of the workspace subdir exists and
// runs, whatever state it is found in:
//
//   - running: left untouched, one inspect;
//   - created or exited: checked (no overlap; on a local engine, no
//     symlink on its path), then started; paused: unpaused;
//   - restarting: waited for until it settles; being removed, or dead (a
//     step of removal): waited for, removed if it stays, then created again;
//   - drifted (RecreateIfChanged) or RecreateAlways: replaced without a gap;
//   - missing: created (its image pulled as cfg.Pull allows) and started.
//
// A new container is created under a temporary name, checked against every
// other workspace (package claims), its directories made and given to its
// user, and only then renamed to its name and started: a container that
// holds a workspace's name is always ready. Any number of concurrent calls,
// in one process or many, end with one container. A container with the
// name but another workspace's label, or one without labels whose workspace
// mount is not ours, is refused and left untouched. A failure returns the
// engine's words and removes what the call created.
//
// A command that ensures several workspaces passes one [sandbox.Shared] to
// all (sandbox.WithShared): the image is then inspected and pulled at most
// once, and not at all when no workspace needs it.
func (m *Manager) Ensure(ctx context.Context, subdir string, cfg sandbox.Config, opts ...sandbox.EnsureOption) (sandbox.Result, error) {
	if err := sandbox.ValidateSubdir(subdir); err != nil {
		return sandbox.Result{}, err
	}
	if err := m.Validate(cfg); err != nil {
		return sandbox.Result{}, err
	}
	o := sandbox.EnsureOpts(opts)
	e := &ensurer{m: m, subdir: subdir, name: sandbox.ContainerName(subdir), cfg: cfg, shared: o.Shared}
	res, err := e.run(ctx)
	if err == nil && o.TellDrift && len(res.Drift) > 0 && res.ID != "" && res.Action != sandbox.ActionRecreated { // kept as it is
		// Said on the engine's event stream (events); best effort.
		_, _ = m.client.ContainerExecCreate(ctx, res.ID, sandbox.Marker(sandbox.EventDrift, strings.Join(res.Drift, ",")))
	}
	return res, sandbox.WorkspaceErr(subdir, "ensure", err)
}

// ensurer is one Ensure: what it knows and has done so far.
type ensurer struct {
	m            *Manager
	subdir, name string
	cfg          sandbox.Config
	shared       *sandbox.Shared
	replaced     bool
	deadline     time.Time
	backoff      time.Duration
	// proxy is the egress proxy being made beside the container, if any.
	proxy *pending
}

// pending is work running beside a create: made once what it makes
// exists (about to start), done once err is set.
type pending struct {
	made, done chan struct{}
	madeOnce   sync.Once
	err        error
}

// goPending runs fn beside the caller; fn calls made when what it makes
// exists.
func goPending(fn func(made func()) error) *pending {
	p := &pending{made: make(chan struct{}), done: make(chan struct{})}
	markMade := func() { p.madeOnce.Do(func() { close(p.made) }) }
	go func() {
		defer markMade() // after done: one who saw made sees a failure done
		defer close(p.done)
		p.err = fn(markMade)
	}()
	return p
}

// waitProxy waits until the egress proxy being made (if any) runs, and
// says whether it could not be made or started.
func (e *ensurer) waitProxy() error {
	if e.proxy == nil {
		return nil
	}
	<-e.proxy.done
	return e.proxy.err
}

// waitProxyMade waits until the egress proxy being made (if any) exists,
// and says whether it could not be made; it may still be starting.
func (e *ensurer) waitProxyMade() error {
	if e.proxy == nil {
		return nil
	}
	<-e.proxy.made
	select {
	case <-e.proxy.done:
		return e.proxy.err
	default:
		return nil
	}
}

func (e *ensurer) run(ctx context.Context) (sandbox.Result, error) {
	if e.cfg.Pull == sandbox.PullAlways {
		if _, err := e.shared.Do("pull:"+e.cfg.Image, func() (any, error) { return nil, e.m.pull(ctx, e.cfg.Image) }); err != nil {
			return sandbox.Result{}, err
		}
	}
	e.deadline, e.backoff = time.Now().Add(maxStateWait), firstBackoff
	for range maxAttempts {
		obs, err := e.observe(ctx)
		if err != nil {
			return sandbox.Result{}, err
		}
		res, err := e.apply(ctx, decide(obs, e.cfg.Recreate), obs)
		if !errors.Is(err, errRace) {
			return res, err
		}
	}
	return sandbox.Result{}, fmt.Errorf("container %s: it kept changing state; gave up after %d attempts", e.name, maxAttempts)
}

// observe inspects the container, checks that it is the workspace's, and
// tells its drift: against the image the reference names now when that
// can change what Ensure does (a warm ensure stays one inspect).
func (e *ensurer) observe(ctx context.Context) (observed, error) {
	proxyRuns := e.askProxy(ctx)
	ctr, err := e.m.client.ContainerInspect(ctx, e.name)
	if cerrdefs.IsNotFound(err) {
		return observed{missing: true, replaced: e.replaced}, nil
	}
	if err != nil {
		return observed{}, fmt.Errorf("inspect container %s: %w", e.name, err)
	}
	if ctr.State == nil || ctr.Config == nil {
		return observed{}, fmt.Errorf("container %s: the engine reports no state or configuration", e.name)
	}
	if err := checkIdentity(e.subdir, e.cfg, ctr); err != nil {
		return observed{}, err
	}
	obs := observed{state: ctr.State.Status, replaced: e.replaced, ctr: &ctr, proxyRuns: proxyRuns}
	if obs.state == container.StateRemoving || obs.state == container.StateDead {
		return obs, nil
	}
	imageID := ctr.Image // the reference still names the container's image
	if e.cfg.Recreate == sandbox.RecreateIfChanged || e.cfg.Recreate == sandbox.RecreateAlways || e.cfg.Pull == sandbox.PullAlways {
		if obs.img, err = e.image(ctx, true); err != nil {
			return obs, err
		}
		imageID = ""
		if obs.img != nil {
			imageID = obs.img.ID
		}
	}
	want := sandbox.SpecFor(e.subdir, bindResolved(e.cfg), imageID)
	obs.drift = sandbox.DriftEnv(sandbox.Drift(ctr.Config.Labels, want), ctr.Config.Env, e.cfg.Env)
	obs.drift = liveDrift(obs.drift, ctr, want)
	return obs, nil
}

// image is the configured image, as the engine has it: inspected (and
// pulled when missing, as the policy allows) once for all the Ensure calls
// that share it. With maybe, a missing image is nil, not an error.
func (e *ensurer) image(ctx context.Context, maybe bool) (*image.InspectResponse, error) {
	if maybe && e.shared == nil {
		img, err := e.m.inspectImage(ctx, e.cfg.Image)
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		return &img, err
	}
	v, err := e.shared.Do("image:"+e.cfg.Image, func() (any, error) {
		img, err := e.m.ensureImage(ctx, e.cfg)
		return &img, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*image.InspectResponse), nil
}

// apply does a step; errRace means: look again.
func (e *ensurer) apply(ctx context.Context, s step, o observed) (sandbox.Result, error) {
	switch s {
	case stepCreate, stepRecreate:
		return e.make(ctx, s == stepRecreate, o)
	case stepWaitRemoved, stepRemoveDead:
		return e.result(o), e.letGo(ctx, s == stepRemoveDead, o)
	case stepUnpause:
		return e.unpause(ctx, o)
	case stepStart:
		return e.start(ctx, o)
	case stepWait:
		return e.result(o), e.wait(ctx, errRace, "restarting")
	case stepKeep:
		return e.result(o), e.keepProxy(ctx, o)
	}
	return e.result(o), fmt.Errorf("container %s is in an unknown state %q", e.name, o.state)
}

// keepProxy makes sure a running workspace of a proxied egress mode has
// its proxy running (one more inspect, of those only): one removed by hand
// is made again, at its address, with its kept rules; one stopped is
// started. Without it, the workspace would reach nothing.
func (e *ensurer) keepProxy(ctx context.Context, o observed) error {
	if o.ctr == nil || !recordedEgress(o.ctr.Config.Labels).Proxied() {
		return nil
	}
	ask := o.proxyRuns
	if ask == nil { // configured in another mode than the one recorded
		ask = e.inspectProxy(ctx)
	}
	runs, err := ask()
	if err != nil || runs {
		return err
	}
	return e.m.proxyOf(ctx, e.shared, o.ctr.Config.Labels, e.cfg)
}

// askProxy asks, in a proxied egress mode, whether the workspace's proxy
// runs, beside what the caller asks meanwhile; nil in another mode.
func (e *ensurer) askProxy(ctx context.Context) func() (bool, error) {
	if !e.cfg.EgressMode().Proxied() {
		return nil
	}
	var runs bool
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runs, err = e.inspectProxy(ctx)()
	}()
	return func() (bool, error) { <-done; return runs, err }
}

// inspectProxy asks whether the workspace's egress proxy runs.
func (e *ensurer) inspectProxy(ctx context.Context) func() (bool, error) {
	return func() (bool, error) {
		proxyName, _ := egressNames(e.name)
		p, err := e.m.client.ContainerInspect(ctx, proxyName)
		switch {
		case cerrdefs.IsNotFound(err):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("inspect the egress proxy %s: %w", proxyName, err)
		}
		return p.State != nil && p.State.Running, nil
	}
}

// make creates the container, or replaces the one observed.
func (e *ensurer) make(ctx context.Context, replace bool, o observed) (sandbox.Result, error) {
	if replace {
		if p := o.ctr.Config.Labels[sandbox.LabelComposeProject]; p != "" && p != e.cfg.ComposeProject {
			// Kept as it is by an ensure of another configuration, never
			// replaced by one: the project's service would run in it.
			return e.result(o), &sandbox.ProjectError{Container: e.name, Project: e.cfg.ComposeProject, Owner: p, Replace: true}
		}
		if s := sandbox.ComposeServiceOf(o.ctr.Config.Labels); s != "" && e.cfg.ComposeService == "" {
			// Its service's, replaced only by it (up --force-recreate).
			return e.result(o), &sandbox.ProjectError{Container: e.name, Project: e.cfg.ComposeProject, Owner: e.cfg.ComposeProject, OwnerService: s, Replace: true}
		}
		r, err := e.m.create(ctx, e, o.ctr, o.img)
		e.replaced = true
		if err == nil {
			r.Action, r.Drift = sandbox.ActionRecreated, o.drift // what differed: why it was replaced
		}
		return r, err
	}
	r, err := e.m.create(ctx, e, nil, o.img)
	if err == nil && e.replaced {
		r.Action = sandbox.ActionRecreated
	}
	return r, e.wait(ctx, err, "being created and removed")
}

// letGo waits for a container being removed to be gone; a dead one (it can
// never run again: dead is a step of a removal, another `rm -f`, or a
// replacement that was killed) is given a moment, then its removal is
// finished. errRace: look again.
func (e *ensurer) letGo(ctx context.Context, dead bool, o observed) error {
	if !dead {
		if err := e.m.waitRemoved(ctx, o.ctr.ID, removeTimeout); err != nil {
			return fmt.Errorf("container %s is being removed: %w", e.name, err)
		}
		return errRace
	}
	if e.m.waitRemoved(ctx, o.ctr.ID, deadWait) != nil {
		if err := e.m.remove(ctx, o.ctr.ID, e.name); err != nil {
			return err
		}
	}
	e.replaced = true
	return errRace
}

// unpause unpauses the container observed.
func (e *ensurer) unpause(ctx context.Context, o observed) (sandbox.Result, error) {
	res := e.result(o)
	if err := e.m.client.ContainerUnpause(ctx, o.ctr.ID); err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return res, errRace // removed or unpaused meanwhile
		}
		return res, fmt.Errorf("unpause container %s: %w", e.name, err)
	}
	res.Action = sandbox.ActionUnpaused
	return res, nil
}

// start starts the container observed, after the checks of every start.
func (e *ensurer) start(ctx context.Context, o observed) (sandbox.Result, error) {
	res := e.result(o)
	if err := e.m.checkStart(ctx, e.subdir, e.cfg.CreateHostDirs, e.cfg.WorkspaceRoot, *o.ctr); err != nil {
		return res, err
	}
	if err := e.m.proxyOf(ctx, e.shared, o.ctr.Config.Labels, e.cfg); err != nil {
		return res, err // never started without its proxy
	}
	if err := e.m.start(ctx, o.ctr.ID, e.name); err != nil {
		return res, err // errRace: removed meanwhile, or being removed
	}
	res.Action = sandbox.ActionStarted
	return res, nil
}

// wait waits, with a growing backoff, before the next look when err is
// errRace, and gives up after maxStateWait.
func (e *ensurer) wait(ctx context.Context, err error, why string) error {
	if !errors.Is(err, errRace) {
		return err
	}
	if time.Now().After(e.deadline) {
		return fmt.Errorf("container %s: %s for more than %s; giving up", e.name, why, maxStateWait)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(e.backoff):
	}
	e.backoff = min(2*e.backoff, maxBackoff)
	return errRace
}

// result is what Ensure says of an existing container.
func (e *ensurer) result(o observed) sandbox.Result {
	res := sandbox.Result{Name: e.name, Subdir: e.subdir, Mode: e.cfg.Mode, Action: sandbox.ActionRunning, Drift: o.drift}
	if o.ctr == nil {
		return res
	}
	res.ID, res.Image = o.ctr.ID, o.ctr.Config.Image
	res.ComposeProject = o.ctr.Config.Labels[sandbox.LabelComposeProject]
	if mode := sandbox.MountMode(o.ctr.Config.Labels[sandbox.LabelMode]); mode != "" {
		res.Mode = mode
	}
	return res
}

// start starts a container. A failure is the engine's, named, unless the
// container was removed meanwhile (or is being removed): errRace.
func (m *Manager) start(ctx context.Context, id, name string) error {
	err := m.client.ContainerStart(ctx, id, container.StartOptions{})
	if err == nil {
		return nil
	}
	if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
		// NotFound is also what a missing network gives: look whether the
		// container itself is gone.
		ctr, ierr := m.client.ContainerInspect(ctx, id)
		if cerrdefs.IsNotFound(ierr) || ierr == nil && ctr.State != nil &&
			(ctr.State.Status == container.StateRemoving || ctr.State.Status == container.StateDead) {
			return errRace
		}
	}
	if staleTask(err) {
		// containerd kept a task of the container (seen after an Engine
		// 20.10 restart); the container is stale, its data is in its mounts.
		return fmt.Errorf("start container %s: %w (%w)", name, err, sandbox.ErrStaleTask)
	}
	return fmt.Errorf("start container %s: %w", name, err)
}
