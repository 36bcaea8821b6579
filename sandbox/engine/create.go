package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// create makes the container of a workspace: under a temporary name, with
// its mounts prepared; checked against the other workspaces; recorded, its
// directories given to its user; then renamed to its name and started.
// With old, it replaces old without a gap: old is set aside (stopped,
// renamed) only once the new container is ready, removed once the new one
// runs, and restored if that fails. img is the image when the caller has
// it already.
func (m *Manager) create(ctx context.Context, e *ensurer, old *container.InspectResponse, img *image.InspectResponse) (sandbox.Result, error) {
	subdir, cfg := e.subdir, e.cfg
	p, net, img, err := m.prepareCreate(ctx, e, img)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer p.close(ctx)
	ccfg, hc, nc := m.containerConfig(subdir, cfg, img.ID, p.mounts(), old)
	nc = net.apply(ccfg, hc, nc)
	id, err := m.createTemp(ctx, tempPrefix, ccfg, hc, nc)
	if err != nil {
		return sandbox.Result{}, m.failedCreate(ctx, e, p, net, err)
	}
	rb := &rollback{m: m, p: p, e: e, subdir: subdir, id: id}
	defer rb.run(ctx)
	ctrs, err := m.listAfter(ctx, e.shared)
	if err != nil {
		return sandbox.Result{}, rb.fail(ctx, err)
	}
	if old == nil {
		// A replacement that was killed left the replaced container set
		// aside (stopped, renamed gws_old_…): it is the workspace's
		// container, with its anonymous volumes; it takes its name back.
		if back := setAsideOf(subdir, ctrs, p.claim()); back != nil {
			rb.dropTemp(ctx)
			if err := m.client.ContainerRename(ctx, back.ID, e.name); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				return sandbox.Result{}, rb.fail(ctx, fmt.Errorf("rename container %s back to %s: %w", short(back.ID), e.name, err))
			}
			return sandbox.Result{}, errRace // Ensure looks again, and starts it
		}
	}
	if err := m.reserveAndOwn(ctx, p, cfg, *img, reservation{self: id, ctrs: ctrs, shared: e.shared}); err != nil {
		return sandbox.Result{}, rb.fail(ctx, err)
	}
	if err := m.commitBesideProxy(ctx, e, id, old, rb); err != nil {
		return sandbox.Result{}, err
	}
	if old != nil && old.Config != nil && recordedEgress(old.Config.Labels).Proxied() && !net.mode.Proxied() {
		_ = m.removeEgress(ctx, e.name, subdir) // the replaced container's proxy and network: nothing uses them now
	}
	return sandbox.Result{ID: id, Name: e.name, Subdir: subdir, Action: sandbox.ActionCreated, Mode: cfg.Mode, Image: cfg.Image}, nil
}

// commitBesideProxy commits the new container once its egress proxy (if
// any) is made: a new workspace's starts beside its proxy's (and is taken
// back if the proxy does not start); a replacement waits until its proxy
// runs.
func (m *Manager) commitBesideProxy(ctx context.Context, e *ensurer, id string, old *container.InspectResponse, rb *rollback) error {
	wait := e.waitProxyMade
	if old != nil {
		wait = e.waitProxy
	}
	if err := wait(); err != nil {
		return rb.fail(ctx, err)
	}
	if err := m.commit(ctx, e, id, old); err != nil {
		return rb.fail(ctx, err)
	}
	rb.commit()
	if err := e.waitProxy(); err != nil {
		// Started without its proxy (it reached nothing): taken back.
		_ = m.removeTemp(ctx, id)
		m.undoEgress(ctx, e, id)
		return fmt.Errorf("create container %s: %w", e.name, err)
	}
	return nil
}

// prepareCreate is what a new container of e needs before it is made:
// the image (img when the caller has it), the checks of the
// configuration against the engine, its egress (networks, a running
// proxy), and its mounts being prepared.
func (m *Manager) prepareCreate(ctx context.Context, e *ensurer, img *image.InspectResponse) (preparer, egressPlan, *image.InspectResponse, error) {
	plan, err := sandbox.PlanMounts(e.cfg, e.subdir, m.client.ClientVersion())
	if err != nil {
		return nil, egressPlan{}, nil, err
	}
	if img == nil {
		if img, err = e.image(ctx, false); err != nil {
			return nil, egressPlan{}, nil, err
		}
	}
	if err := m.checkCreate(ctx, e.cfg, *img, false); err != nil {
		return nil, egressPlan{}, nil, err
	}
	net, err := m.egressFor(ctx, e)
	if err != nil {
		m.undoEgress(ctx, e, "")
		return nil, egressPlan{}, nil, err
	}
	p, err := m.newPreparer(ctx, e.subdir, e.cfg, *img, plan)
	if err != nil {
		m.undoEgress(ctx, e, "")
		return nil, egressPlan{}, nil, err
	}
	return p, net, img, nil
}

// failedCreate undoes what a create whose container could not be made
// prepared, and says why: errRace when a concurrent ensure that failed
// removed what it needed (its directory, its network), which is made
// again.
func (m *Manager) failedCreate(ctx context.Context, e *ensurer, p preparer, net egressPlan, err error) error {
	if p.gone() {
		return errRace
	}
	p.undo(context.WithoutCancel(ctx))
	if cerrdefs.IsNotFound(err) && strings.Contains(err.Error(), "network") && net.network != e.cfg.Network {
		m.sharedNets.Delete(net.network) // removed by hand, if it was a shared one
		return errRace
	}
	m.undoEgress(ctx, e, "")
	if cerrdefs.IsInvalidArgument(err) {
		// A value the engine refuses (more CPUs than it has, too little
		// memory): the configuration's, as docker run says it (125).
		return fmt.Errorf("%w: create container %s: %w", sandbox.ErrInvalidConfig, e.name, err)
	}
	return fmt.Errorf("create container %s: %w", e.name, err)
}

// reservation is a new workspace's place: held by a container of its own
// (self: the new container under its temporary name, or a placeholder),
// among the containers listed once it was (ctrs).
type reservation struct {
	self    string
	ctrs    []container.Summary
	forTask bool
	shared  *sandbox.Shared // of the command's other Ensure calls (nil: none)
}

// reserveAndOwn is what every new workspace goes through once its place is
// held: checked against every other workspace and recorded, its
// directories made and given to the user it runs as. That user is resolved
// meanwhile (a read of the image's /etc/passwd, once per image and user
// for a command's Ensure calls): the check and the record do not wait for
// it, nor it for them.
func (m *Manager) reserveAndOwn(ctx context.Context, p preparer, cfg sandbox.Config, img image.InspectResponse, r reservation) error {
	user := cfg.User
	if user == "" && img.Config != nil {
		user = img.Config.User
	}
	owner := make(chan ownerResult, 1)
	go func() {
		own, err := m.owner(ctx, r.shared, img.ID, user, p.userDB(r.self))
		owner <- ownerResult{own, err}
	}()
	err := p.reserve(ctx, func(records []claims.Claim) error {
		shared, _ := claims.OfSharedMount(p.mounts())
		if _, dev := cfg.BindDevices(); dev != "" && shared.Volume == cfg.SharedVolume {
			shared.Host = dev
		}
		return m.checkNew(ctx, claims.New{Self: p.claim(), Shared: shared, SelfID: r.self, ForTask: r.forTask}, r.ctrs, records)
	})
	own := <-owner
	switch {
	case err != nil:
		return err
	case own.err != nil:
		return own.err
	}
	return p.finish(ctx, own.own)
}

// commit gives the new container (id) the workspace's name and starts it;
// an old one it replaces is set aside first, restored if that fails, and
// removed once the new one runs.
func (m *Manager) commit(ctx context.Context, e *ensurer, id string, old *container.InspectResponse) error {
	var restore func(context.Context) error
	if old != nil {
		var err error
		if restore, err = m.setAside(ctx, old, e.name); err != nil {
			return err
		}
	}
	if err := m.client.ContainerRename(ctx, id, e.name); err != nil {
		if restore != nil {
			// The new container first: an interrupted rename may have
			// given it the name.
			_ = m.removeTemp(ctx, id)
			_ = m.cleanup(ctx, restore)
		}
		if cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) {
			// Another caller's container took the name first. When it is
			// another workspace's (two subdirs, one name), this one gives
			// up and takes back what it made; else Ensure looks again.
			if holder, ierr := m.client.ContainerInspect(ctx, e.name); ierr == nil && holder.Config != nil {
				if err := checkOwner(e.subdir, holder); err != nil {
					return err
				}
			}
			return errRace
		}
		return fmt.Errorf("rename container %s to %s: %w", short(id), e.name, err)
	}
	if err := m.start(ctx, id, e.name); err != nil {
		if restore != nil {
			_ = m.removeTemp(ctx, id)
			_ = m.cleanup(ctx, restore)
		}
		return err
	}
	if old != nil {
		// Best effort: one that stays is a stopped gws_old_… for prune.
		_ = m.cleanup(ctx, func(ctx context.Context) error {
			return m.client.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true})
		})
	}
	return nil
}

// rollback undoes what a create made when it fails: its temporary
// container, then what its preparer made (unless a concurrent ensure of the
// same workspace may use it: the directories are the workspace's, not the
// call's).
type rollback struct {
	m        *Manager
	p        preparer
	e        *ensurer
	subdir   string
	id       string
	tempGone bool
	done     bool
}

// fail undoes, and returns the error to return: errRace when another
// ensure of the workspace that failed at the same moment removed the
// directory this one was using (it is made again).
func (r *rollback) fail(ctx context.Context, err error) error {
	_ = r.e.waitProxy() // nothing runs beside once it returns
	if r.p.gone() {
		err = errRace
	}
	r.dropTemp(ctx) // the container first: one that holds the name must find its directory
	if !errors.Is(err, errRace) && !r.m.othersMake(ctx, r.subdir, r.id) {
		r.p.undo(context.WithoutCancel(ctx))
		r.m.undoEgress(ctx, r.e, r.id)
	}
	r.done = true
	return err
}

// dropTemp removes the temporary container, once.
func (r *rollback) dropTemp(ctx context.Context) {
	if !r.tempGone {
		_ = r.m.removeTemp(ctx, r.id)
		r.tempGone = true
	}
}

// commit: the container holds the workspace's name; nothing is undone.
func (r *rollback) commit() { r.done, r.tempGone = true, true }

// run, deferred, removes the temporary container of a create that ended
// without commit or fail.
func (r *rollback) run(ctx context.Context) {
	if !r.done {
		_ = r.e.waitProxy()
		r.dropTemp(ctx)
	}
}

// containerConfig is the container of subdir under cfg, with its image and
// its mounts (those of old's anonymous volumes carried over).
func (m *Manager) containerConfig(subdir string, cfg sandbox.Config, imageID string, mounts []mount.Mount, old *container.InspectResponse,
) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	s := sandbox.SpecFor(subdir, bindResolved(cfg), imageID)
	labels := map[string]string{
		sandbox.LabelSubdir: subdir, sandbox.LabelMode: string(cfg.Mode),
		sandbox.LabelConfigHash: s.Hash(), sandbox.LabelConfig: s.JSON(),
	}
	if m.opts.Version != "" {
		labels[sandbox.LabelVersion] = m.opts.Version
	}
	if cfg.ComposeProject != "" {
		labels[sandbox.LabelComposeProject] = cfg.ComposeProject
		for k, v := range composeLabels(cfg, subdir, s.Hash()) {
			labels[k] = v
		}
		if cfg.ComposeService != "" {
			labels[sandbox.LabelComposeMadeBy] = cfg.ComposeService
		}
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	hc := &container.HostConfig{
		Mounts:      append(mounts, anonymousVolumes(old)...),
		NetworkMode: container.NetworkMode(cfg.Network),
		Init:        &cfg.Init,
		CapAdd:      cfg.CapAdd,
		CapDrop:     cfg.CapDrop,
		SecurityOpt: cfg.SecurityOpt,
		Resources:   container.Resources{NanoCPUs: cfg.NanoCPUs, Memory: cfg.Memory},
	}
	if cfg.PidsLimit > 0 {
		hc.Resources.PidsLimit = &cfg.PidsLimit
	}
	if cfg.ReadOnly {
		hc.ReadonlyRootfs = true
		hc.Tmpfs = map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"}
	}
	var nc *network.NetworkingConfig
	if len(cfg.NetworkAliases) > 0 && cfg.Network != "" && !builtinNetwork(cfg.Network) {
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{cfg.Network: {Aliases: cfg.NetworkAliases}}}
	}
	// WorkingDir: `docker exec` and `docker compose exec` start in the
	// workspace, as `docker workspace exec` does.
	cc := &container.Config{Image: cfg.Image, Entrypoint: sandbox.SleepForever, User: cfg.User, Env: cfg.Env, WorkingDir: sandbox.WorkspaceTarget, Labels: temporaryLabels(labels)}
	return cc, hc, nc
}

// PrepareForTask makes on this engine what the mounts of a new workspace
// need (its directory, given to its user, and its record), with every check
// of a new container, but no workspace container: an orchestrator of this
// engine's node runs the workspace as a task, and the containers of its
// tasks are not a second container of it. Like Ensure, it holds the
// workspace's place with a temporary container (never started) while it
// checks and prepares, so that ensures on this engine — the orchestrator's,
// or the engine's own — order themselves by it. It needs a helper
// (volume_subpath mode).
func (m *Manager) PrepareForTask(ctx context.Context, subdir string, cfg sandbox.Config) ([]mount.Mount, error) {
	img, err := m.ensureImage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	plan, err := sandbox.PlanMounts(cfg, subdir, m.client.ClientVersion())
	if err != nil {
		return nil, err
	}
	if plan.Prepare != sandbox.PrepareHelper {
		return nil, fmt.Errorf("%w: only volume_subpath mode can be prepared for an orchestrator's task", sandbox.ErrInvalidConfig)
	}
	p, err := m.newPreparer(ctx, subdir, cfg, img, plan)
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	if hp, ok := p.(*helperPreparer); ok {
		hp.forTask = true
	}
	id, err := m.createTemp(ctx, tempPrefix, &container.Config{
		Image: img.ID, Entrypoint: sandbox.SleepForever, Labels: temporaryLabels(map[string]string{sandbox.LabelSubdir: subdir, sandbox.LabelMode: string(cfg.Mode)}),
	}, &container.HostConfig{NetworkMode: "none", Mounts: append(p.mounts(), volumeShadows(img, p.mounts())...)}, nil)
	if err != nil {
		return nil, fmt.Errorf("create a placeholder container: %w", err)
	}
	defer func() { _ = m.removeTemp(ctx, id) }()
	ctrs, err := m.listClaimants(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.reserveAndOwn(ctx, p, cfg, img, reservation{self: id, ctrs: ctrs, forTask: true}); err != nil {
		if errors.Is(err, errRace) {
			err = errors.New("the placeholder container was removed meanwhile; try again")
		}
		return nil, err
	}
	return p.mounts(), nil
}

// setAside stops a container being replaced and moves it out of the way of
// its replacement's name; restore undoes that (with a context of its own:
// it runs when the call's may be canceled).
func (m *Manager) setAside(ctx context.Context, old *container.InspectResponse, name string) (restore func(context.Context) error, err error) {
	wasRunning := old.State != nil && (old.State.Running || old.State.Paused || old.State.Restarting)
	if wasRunning {
		t := sandbox.DefaultStopTimeout
		if err := m.client.ContainerStop(ctx, old.ID, container.StopOptions{Timeout: &t}); err != nil {
			if cerrdefs.IsNotFound(err) {
				return nil, errRace
			}
			return nil, fmt.Errorf("stop container %s to replace it: %w", name, err)
		}
	}
	restore = func(ctx context.Context) error { return m.putBack(ctx, old.ID, name, wasRunning) }
	if err := m.client.ContainerRename(ctx, old.ID, tempName(oldPrefix)); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, errRace
		}
		// An interrupted call may have left the rename under way in the
		// engine: the container is looked at, not assumed.
		_ = m.cleanup(ctx, restore)
		return nil, fmt.Errorf("rename container %s to replace it: %w", name, err)
	}
	return restore, nil
}

// putBack gives a container set aside its name back, and starts it if it
// ran: as it is found (a rename or a start of an interrupted call may have
// landed in the engine or not).
func (m *Manager) putBack(ctx context.Context, id, name string, wasRunning bool) error {
	c, err := m.client.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	if trimSlash(c.Name) != name {
		if err := m.client.ContainerRename(ctx, id, name); err != nil {
			return err
		}
	}
	if wasRunning && (c.State == nil || !c.State.Running) {
		return m.client.ContainerStart(ctx, id, container.StartOptions{})
	}
	return nil
}

// othersMake says whether a container of subdir other than id exists (a
// concurrent ensure's, made or being made).
func (m *Manager) othersMake(ctx context.Context, subdir, id string) bool {
	others := false
	_ = m.cleanup(ctx, func(ctx context.Context) error {
		ctrs, err := m.listOurs(ctx)
		for _, c := range ctrs {
			others = others || c.ID != id && c.Labels[sandbox.LabelSubdir] == subdir && !strings.HasPrefix(trimSlash(claims.FirstName(&c)), oldPrefix)
		}
		return err
	})
	return others
}

// setAsideOf is the newest replaced container of subdir that a killed
// replacement left set aside, if any: one that mounts the workspace where
// the new container would (self).
func setAsideOf(subdir string, ctrs []container.Summary, self claims.Claim) *container.Summary {
	var newest *container.Summary
	for i := range ctrs {
		c := &ctrs[i]
		if !strings.HasPrefix(trimSlash(claims.FirstName(c)), oldPrefix) || c.Labels[sandbox.LabelSubdir] != subdir || c.State == container.StateRunning ||
			!setAsideRecently(claims.FirstName(c), time.Now()) {
			continue
		}
		if cl, ok := claims.OfContainer(c); !ok || !claims.SamePlace(cl, self) {
			continue
		}
		if newest == nil || c.Created > newest.Created {
			newest = c
		}
	}
	return newest
}

// anonymousVolumes are the mounts that carry the anonymous volumes of a
// container being replaced (those the engine made for its image's VOLUME
// paths) over to its replacement, as Compose does: their data lives on.
func anonymousVolumes(old *container.InspectResponse) []mount.Mount {
	if old == nil || old.Config == nil {
		return nil
	}
	var out []mount.Mount
	for _, mp := range old.Mounts {
		if mp.Type != mount.TypeVolume || mp.Name == "" || mp.Destination == sandbox.WorkspaceTarget || mp.Destination == sandbox.SharedTarget {
			continue
		}
		if _, declared := old.Config.Volumes[mp.Destination]; !declared {
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: mp.Name, Target: mp.Destination})
	}
	return out
}

// checkCreate is what is checked before a new container is made: its
// network exists, its volumes are what the configuration says (made with
// options), the directories of its bind volumes are safe. forTask: for an
// orchestrator's task on this engine's node.
func (m *Manager) checkCreate(ctx context.Context, cfg sandbox.Config, img image.InspectResponse, forTask bool) error {
	if err := m.checkNetwork(ctx, cfg.Network); err != nil {
		return err
	}
	if err := m.CheckVolumes(ctx, cfg, forTask); err != nil {
		return err
	}
	return m.checkBindDevices(ctx, cfg, img)
}

// checkNetwork fails, with the engine's words, when the network a new
// container would join does not exist (the engine would only say so when
// it starts).
func (m *Manager) checkNetwork(ctx context.Context, name string) error {
	if name == "" || builtinNetwork(name) {
		return nil
	}
	if _, err := m.client.NetworkInspect(ctx, name, network.InspectOptions{}); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	return nil
}

// imageID resolves an image reference to the ID of the engine's image.
func (m *Manager) imageID(ctx context.Context, ref string) (string, error) {
	img, err := m.inspectImage(ctx, ref)
	return img.ID, err
}

func (m *Manager) inspectImage(ctx context.Context, ref string) (image.InspectResponse, error) {
	img, err := m.client.ImageInspect(ctx, ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return img, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, err
}

// ensureImage makes sure the engine has the image, pulling it as the
// policy allows, and returns it.
func (m *Manager) ensureImage(ctx context.Context, cfg sandbox.Config) (image.InspectResponse, error) {
	img, err := m.inspectImage(ctx, cfg.Image)
	if cerrdefs.IsNotFound(err) {
		switch cfg.Pull {
		case sandbox.PullNever:
			return img, fmt.Errorf("image %s is not on the engine and the pull policy is %q", cfg.Image, sandbox.PullNever)
		case sandbox.PullAlways: // pulled already, and still missing
			return img, fmt.Errorf("image %s is not on the engine after pulling it: %w", cfg.Image, err)
		}
		if err := m.pull(ctx, cfg.Image); err != nil {
			return img, err
		}
		if img, err = m.inspectImage(ctx, cfg.Image); err != nil {
			return img, fmt.Errorf("image %s: %w", cfg.Image, err)
		}
	}
	return img, err
}

// remove removes a container (never a volume); one already gone is fine,
// one being removed by another caller is waited for.
func (m *Manager) remove(ctx context.Context, id, name string) error {
	err := m.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err): // removal already in progress
		return m.waitRemoved(ctx, id, removeTimeout)
	}
	return fmt.Errorf("remove container %s: %w", name, err)
}

// waitRemoved waits, up to limit, until a container is gone.
func (m *Manager) waitRemoved(ctx context.Context, id string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done, errs := m.client.ContainerWait(ctx, id, container.WaitConditionRemoved)
	select {
	case <-done:
		return nil
	case err := <-errs:
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
}
