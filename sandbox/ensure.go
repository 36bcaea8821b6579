package sandbox

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
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
)

// Action says what [Manager.Ensure] did.
type Action string

const (
	// ActionCreated: the container did not exist; it was created and started.
	ActionCreated Action = "created"
	// ActionRecreated: the container was replaced (drift, dead, or
	// RecreateAlways), keeping the workspace data.
	ActionRecreated Action = "recreated"
	// ActionStarted: the container existed, stopped; it was started.
	ActionStarted Action = "started"
	// ActionUnpaused: the container existed, paused; it was unpaused.
	ActionUnpaused Action = "unpaused"
	// ActionRunning: the container was running; nothing was done.
	ActionRunning Action = "running"
)

// Result describes the container of a workspace after [Manager.Ensure].
type Result struct {
	ID     string
	Name   string
	Subdir string
	Action Action
	Mode   MountMode
	Image  string
	// Drift names what of the container differs from the configuration
	// (see [Workspace.Drift]); empty when it matches or was (re)created.
	Drift []string
	// Node is the Swarm node whose engine runs the workspace (see [Swarm]).
	Node string
}

// sleepForever is the entrypoint that keeps a workspace container alive.
var sleepForever = strslice.StrSlice{"sleep", "infinity"}

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
// other workspace (see overlap.go), its directories made and given to its
// user, and only then renamed to its name and started: a container that
// holds a workspace's name is always ready. Any number of concurrent calls,
// in one process or many, end with one container. A container with the
// name but another workspace's label, or one without labels whose workspace
// mount is not ours, is refused and left untouched. A failure returns the
// engine's words and removes what the call created.
//
// A command that ensures several workspaces passes one [SharedImage] to all
// (WithSharedImage): the image is then inspected and pulled at most once,
// and not at all when no workspace needs it.
func (m *Manager) Ensure(ctx context.Context, subdir string, cfg Config, opts ...EnsureOption) (Result, error) {
	var o ensureOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateSubdir(subdir); err != nil {
		return Result{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	name := ContainerName(subdir)
	if cfg.Pull == PullAlways {
		if o.shared != nil {
			if _, err := o.shared.get(ctx); err != nil {
				return Result{}, err
			}
		} else if err := m.pull(ctx, cfg.Image); err != nil {
			return Result{}, err
		}
	}
	// The image is resolved only when that can change what Ensure does: a
	// warm ensure stays one inspect.
	checkImage := cfg.Recreate == RecreateIfChanged || cfg.Recreate == RecreateAlways || cfg.Pull == PullAlways

	deadline := time.Now().Add(maxStateWait)
	backoff := firstBackoff
	wait := func(why string) error {
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: %s for more than %s; giving up", name, why, maxStateWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		return nil
	}
	recreated := false
	for range maxAttempts {
		ctr, err := m.client.ContainerInspect(ctx, name)
		if cerrdefs.IsNotFound(err) {
			res, err := m.create(ctx, subdir, name, cfg, nil, nil, o.shared)
			if errors.Is(err, errRace) {
				if err := wait("being created and removed"); err != nil {
					return Result{}, err
				}
				continue // someone else created or removed it meanwhile: look again
			}
			if recreated && err == nil {
				res.Action = ActionRecreated
			}
			return res, err
		}
		if err != nil {
			return Result{}, fmt.Errorf("inspect container %s: %w", name, err)
		}
		if ctr.State == nil || ctr.Config == nil {
			return Result{}, fmt.Errorf("container %s: the engine reports no state or configuration", name)
		}
		if err := checkIdentity(subdir, cfg, ctr); err != nil {
			return Result{}, err
		}
		res := Result{
			ID: ctr.ID, Name: name, Subdir: subdir, Mode: cfg.Mode, Image: ctr.Config.Image,
			Action: ActionRunning,
		}
		if mode := MountMode(ctr.Config.Labels[LabelMode]); mode != "" {
			res.Mode = mode
		}

		status := ctr.State.Status
		switch status {
		case container.StateRemoving:
			if err := m.waitRemoved(ctx, ctr.ID, removeTimeout); err != nil {
				return res, fmt.Errorf("container %s is being removed: %w", name, err)
			}
			continue
		case container.StateDead:
			// It can never run again. Dead is a step of a removal (another
			// `rm -f`, or a replacement that was killed): give that removal
			// a moment, then finish it.
			if m.waitRemoved(ctx, ctr.ID, deadWait) != nil {
				if err := m.remove(ctx, ctr.ID, name); err != nil {
					return res, err
				}
			}
			recreated = true
			continue
		}

		imageID := ctr.Image // assume the reference still names the container's image
		var img *image.InspectResponse
		switch {
		case checkImage && o.shared != nil:
			si, err := o.shared.get(ctx)
			if err != nil {
				return res, err
			}
			img, imageID = &si.inspect, si.ID
		case checkImage:
			i, err := m.inspectImage(ctx, cfg.Image)
			if err != nil && !cerrdefs.IsNotFound(err) {
				return res, err
			}
			if imageID = i.ID; err == nil {
				img = &i
			}
		}
		res.Drift = drift(ctr.Config.Labels, specFor(subdir, cfg, imageID))
		if cfg.Recreate == RecreateAlways && !recreated || cfg.Recreate == RecreateIfChanged && len(res.Drift) > 0 {
			r, err := m.create(ctx, subdir, name, cfg, &ctr, img, o.shared)
			if errors.Is(err, errRace) {
				recreated = true
				continue
			}
			if err == nil {
				r.Action = ActionRecreated
			}
			return r, err
		}

		switch status {
		case container.StateRunning:
			return res, nil
		case container.StatePaused:
			if err := m.client.ContainerUnpause(ctx, ctr.ID); err != nil {
				if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
					continue // removed or unpaused meanwhile
				}
				return res, fmt.Errorf("unpause container %s: %w", name, err)
			}
			res.Action = ActionUnpaused
			return res, nil
		case container.StateCreated, container.StateExited:
			if err := m.checkStart(ctx, subdir, cfg, ctr); err != nil {
				if errors.Is(err, errRace) {
					continue
				}
				return res, err
			}
			if err := m.start(ctx, ctr.ID, name); err != nil {
				if errors.Is(err, errRace) {
					continue // removed meanwhile, or being removed: look again
				}
				return res, err
			}
			res.Action = ActionStarted
			return res, nil
		case container.StateRestarting:
			if err := wait("restarting"); err != nil {
				return res, err
			}
		default:
			return res, fmt.Errorf("container %s is in an unknown state %q", name, status)
		}
	}
	return Result{}, fmt.Errorf("container %s: it kept changing state; gave up after %d attempts", name, maxAttempts)
}

// EnsureOption changes what [Manager.Ensure] does.
type EnsureOption func(*ensureOptions)

type ensureOptions struct {
	shared *SharedImage
}

// WithSharedImage makes Ensure take the image from s, which the other
// Ensure calls of the same command share.
func WithSharedImage(s *SharedImage) EnsureOption {
	return func(o *ensureOptions) { o.shared = s }
}

// Image is the image of new workspace containers, as the engine has it.
type Image struct {
	// Ref is the reference it was asked for by; ID the engine's image ID.
	Ref, ID string
	inspect image.InspectResponse
}

// SharedImage is the image of one configuration, made ready (inspected,
// pulled as cfg.Pull says) once, when the first Ensure that shares it needs
// it. Safe for concurrent use.
type SharedImage struct {
	m    *Manager
	cfg  Config
	once sync.Once
	img  *Image
	err  error
}

// SharedImage returns the image of cfg for the Ensure calls of one command.
func (m *Manager) SharedImage(cfg Config) *SharedImage {
	return &SharedImage{m: m, cfg: cfg}
}

func (s *SharedImage) get(ctx context.Context) (*Image, error) {
	s.once.Do(func() {
		if s.cfg.Pull == PullAlways {
			if s.err = s.m.pull(ctx, s.cfg.Image); s.err != nil {
				return
			}
		}
		var img image.InspectResponse
		if img, s.err = s.m.ensureImage(ctx, s.cfg); s.err == nil {
			s.img = &Image{Ref: s.cfg.Image, ID: img.ID, inspect: img}
		}
	})
	return s.img, s.err
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
	if strings.Contains(err.Error(), "already exists") {
		// containerd kept a task of the container (seen after an Engine
		// 20.10 restart); the container is stale, its data is in its mounts.
		return fmt.Errorf("start container %s: %w (%w)", name, err, ErrStaleTask)
	}
	return fmt.Errorf("start container %s: %w", name, err)
}

// ErrStaleTask is wrapped by the error of a container that the engine
// cannot start because its containerd still holds a task of it, as after an
// engine restart. Replacing the container (RecreateAlways) or removing it
// recovers; the workspace data is in the mounts.
var ErrStaleTask = errors.New("the engine's containerd still holds a task of this container, as after an engine restart; replacing or removing the container recovers, the workspace data is kept")

// create makes the container of a workspace: under a temporary name, with
// its mounts prepared; checked against overlapping workspaces; recorded, its
// directories given to its user; then renamed to name and started. With
// old, it replaces old without a gap: old is set aside (stopped, renamed)
// only once the new container is ready, removed once the new one runs, and
// restored if that fails.
//
// known is the image, when the caller has it already; else shared, if set,
// gives it.
func (m *Manager) create(ctx context.Context, subdir, name string, cfg Config, old *container.InspectResponse, known *image.InspectResponse, shared *SharedImage) (Result, error) {
	plan, err := PlanMounts(cfg, subdir, m.client.ClientVersion())
	if err != nil {
		return Result{}, err
	}
	var img image.InspectResponse
	switch {
	case known != nil:
		img = *known
	case shared != nil:
		si, err := shared.get(ctx)
		if err != nil {
			return Result{}, err
		}
		img = si.inspect
	default:
		if img, err = m.ensureImage(ctx, cfg); err != nil {
			return Result{}, err
		}
	}
	if err := m.checkNetwork(ctx, cfg.Network); err != nil {
		return Result{}, err
	}
	if err := m.checkVolumes(ctx, cfg, ""); err != nil {
		return Result{}, err
	}
	if err := m.checkBindDevices(ctx, cfg, img, ""); err != nil {
		return Result{}, err
	}
	p, err := m.newPreparer(ctx, subdir, cfg, img, plan)
	if err != nil {
		return Result{}, err
	}
	defer p.close(ctx)

	s := specFor(subdir, cfg, img.ID)
	labels := map[string]string{
		LabelSubdir: subdir, LabelMode: string(cfg.Mode),
		LabelConfigHash: s.hash(), LabelConfig: s.json(),
	}
	if m.Version != "" {
		labels[LabelVersion] = m.Version
	}
	if cfg.ComposeProject != "" {
		labels[LabelComposeProject] = cfg.ComposeProject
		for k, v := range composeLabels(cfg, subdir, s.hash()) {
			labels[k] = v
		}
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	hc := &container.HostConfig{
		Mounts:      append(p.mounts(), anonymousVolumes(old)...),
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
	id, err := m.createTemp(ctx, tempPrefix,
		// WorkingDir: `docker exec` and `docker compose exec` start in the
		// workspace, as `docker workspace exec` does.
		&container.Config{Image: cfg.Image, Entrypoint: sleepForever, User: cfg.User, Env: cfg.Env, WorkingDir: WorkspaceTarget, Labels: temporaryLabels(labels)}, hc, nc)
	if err != nil {
		if p.gone() {
			return Result{}, errRace // a concurrent ensure that failed removed the directory: made again
		}
		p.undo(context.WithoutCancel(ctx))
		return Result{}, fmt.Errorf("create container %s: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = m.removeTemp(ctx, id)
		}
	}()
	// fail undoes what this call made, unless another caller's container
	// for the same workspace may use it (the directories are the
	// workspace's, not the call's).
	fail := func(err error) (Result, error) {
		if p.gone() {
			// Another ensure of the same workspace that failed at the same
			// moment removed the directory this one was using: made again.
			err = errRace
		}
		if !committed { // the container first: one that holds the name must find its directory
			_ = m.removeTemp(ctx, id)
			committed = true
		}
		if !errors.Is(err, errRace) && !m.othersMake(ctx, subdir, id) {
			p.undo(context.WithoutCancel(ctx))
		}
		return Result{}, err
	}

	ctrs, err := m.listClaimants(ctx)
	if err != nil {
		return fail(err)
	}
	if old == nil {
		// A replacement that was killed left the replaced container set
		// aside (stopped, renamed gws_old_…): it is the workspace's
		// container, with its anonymous volumes; it takes its name back.
		if back := setAsideOf(subdir, ctrs, p.claim()); back != nil {
			_ = m.removeTemp(ctx, id)
			committed = true
			if err := m.client.ContainerRename(ctx, back.ID, name); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				return fail(fmt.Errorf("rename container %s back to %s: %w", short(back.ID), name, err))
			}
			return Result{}, errRace // Ensure looks again, and starts it
		}
	}
	if err := p.reserve(ctx, func(records []claim) error {
		shared, _ := sharedClaim(p.mounts())
		return m.checkNewOverlap(ctx, p.claim(), shared, id, ctrs, records)
	}); err != nil {
		return fail(err)
	}
	user := cfg.User
	if user == "" && img.Config != nil {
		user = img.Config.User
	}
	own, err := m.resolveOwner(ctx, p.userDB(id), user)
	if err != nil {
		return fail(err)
	}
	if err := p.finish(ctx, own); err != nil {
		return fail(err)
	}

	var restore func(context.Context) error
	if old != nil {
		if restore, err = m.setAside(ctx, old, name); err != nil {
			return fail(err)
		}
	}
	if err := m.client.ContainerRename(ctx, id, name); err != nil {
		if restore != nil {
			_ = m.cleanup(ctx, restore)
		}
		if cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) {
			// Another caller's container took the name first. When it is
			// another workspace's (two subdirs, one name), this one gives
			// up and takes back what it made; else Ensure looks again.
			if holder, ierr := m.client.ContainerInspect(ctx, name); ierr == nil && holder.Config != nil {
				if err := checkOwner(subdir, holder); err != nil {
					return fail(err)
				}
			}
			return fail(errRace)
		}
		return fail(fmt.Errorf("rename container %s to %s: %w", short(id), name, err))
	}
	if err := m.start(ctx, id, name); err != nil {
		if restore != nil {
			_ = m.removeTemp(ctx, id)
			_ = m.cleanup(ctx, restore)
		}
		return fail(err)
	}
	committed = true
	if old != nil {
		// Best effort: one that stays is a stopped gws_old_… for prune.
		_ = m.cleanup(ctx, func(ctx context.Context) error {
			return m.client.ContainerRemove(ctx, old.ID, container.RemoveOptions{Force: true})
		})
	}
	return Result{ID: id, Name: name, Subdir: subdir, Action: ActionCreated, Mode: cfg.Mode, Image: cfg.Image}, nil
}

// prepareOnly makes on m's engine what the mounts of a new workspace need
// (its directory, given to its user, and its record), with every check of
// a new container (see create), but no workspace container: an
// orchestrator runs the workspace (swarm.go). Like create, it holds the
// workspace's place with a temporary container (never started) while it
// checks and prepares, so that ensures on this engine — of a Swarm, or of
// the engine itself — order themselves by it. It needs a helper
// (volume_subpath mode).
func (m *Manager) prepareOnly(ctx context.Context, subdir string, cfg Config) ([]mount.Mount, error) {
	img, err := m.ensureImage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	plan, err := PlanMounts(cfg, subdir, m.client.ClientVersion())
	if err != nil {
		return nil, err
	}
	if plan.Prepare != PrepareHelper {
		return nil, errors.New("only volume_subpath mode can be prepared for an orchestrator")
	}
	p, err := m.newPreparer(ctx, subdir, cfg, img, plan)
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	id, err := m.createTemp(ctx, tempPrefix, &container.Config{
		Image: img.ID, Entrypoint: sleepForever, Labels: temporaryLabels(map[string]string{LabelSubdir: subdir, LabelMode: string(cfg.Mode)}),
	}, &container.HostConfig{NetworkMode: "none", Mounts: append(p.mounts(), volumeShadows(img, p.mounts())...)})
	if err != nil {
		return nil, fmt.Errorf("create a placeholder container: %w", err)
	}
	defer func() { _ = m.removeTemp(ctx, id) }()
	ctrs, err := m.listClaimants(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.reserve(ctx, func(records []claim) error {
		shared, _ := sharedClaim(p.mounts())
		return m.checkNewOverlap(ctx, p.claim(), shared, id, ctrs, records)
	}); err != nil {
		if errors.Is(err, errRace) {
			err = errors.New("the placeholder container was removed meanwhile; try again")
		}
		return nil, err
	}
	user := cfg.User
	if user == "" && img.Config != nil {
		user = img.Config.User
	}
	own, err := m.resolveOwner(ctx, p.userDB(id), user)
	if err != nil {
		return nil, err
	}
	if err := p.finish(ctx, own); err != nil {
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
		t := DefaultStopTimeout
		if err := m.client.ContainerStop(ctx, old.ID, container.StopOptions{Timeout: &t}); err != nil {
			if cerrdefs.IsNotFound(err) {
				return nil, errRace
			}
			return nil, fmt.Errorf("stop container %s to replace it: %w", name, err)
		}
	}
	if err := m.client.ContainerRename(ctx, old.ID, tempName(oldPrefix)); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, errRace
		}
		if wasRunning {
			_ = m.cleanup(ctx, func(ctx context.Context) error {
				return m.client.ContainerStart(ctx, old.ID, container.StartOptions{})
			})
		}
		return nil, fmt.Errorf("rename container %s to replace it: %w", name, err)
	}
	return func(ctx context.Context) error {
		if err := m.client.ContainerRename(ctx, old.ID, name); err != nil {
			return err
		}
		if wasRunning {
			return m.client.ContainerStart(ctx, old.ID, container.StartOptions{})
		}
		return nil
	}, nil
}

// othersMake says whether a container of subdir other than id exists (a
// concurrent ensure's, made or being made).
func (m *Manager) othersMake(ctx context.Context, subdir, id string) bool {
	others := false
	_ = m.cleanup(ctx, func(ctx context.Context) error {
		ctrs, err := m.listOurs(ctx)
		for _, c := range ctrs {
			others = others || c.ID != id && c.Labels[LabelSubdir] == subdir && !strings.HasPrefix(trimSlash(firstName(&c)), oldPrefix)
		}
		return err
	})
	return others
}

// setAsideOf is the newest replaced container of subdir that a killed
// replacement left set aside, if any: one that mounts the workspace where
// the new container would (self).
func setAsideOf(subdir string, ctrs []container.Summary, self claim) *container.Summary {
	var newest *container.Summary
	for i := range ctrs {
		c := &ctrs[i]
		if !strings.HasPrefix(trimSlash(firstName(c)), oldPrefix) || c.Labels[LabelSubdir] != subdir || c.State == container.StateRunning ||
			!setAsideRecently(firstName(c), time.Now()) {
			continue
		}
		if cl, ok := containerClaim(c); !ok || !samePlace(cl, self) {
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
		if mp.Type != mount.TypeVolume || mp.Name == "" || mp.Destination == WorkspaceTarget || mp.Destination == SharedTarget {
			continue
		}
		if _, declared := old.Config.Volumes[mp.Destination]; !declared {
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: mp.Name, Target: mp.Destination})
	}
	return out
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
func (m *Manager) ensureImage(ctx context.Context, cfg Config) (image.InspectResponse, error) {
	img, err := m.inspectImage(ctx, cfg.Image)
	if cerrdefs.IsNotFound(err) {
		switch cfg.Pull {
		case PullNever:
			return img, fmt.Errorf("image %s is not on the engine and the pull policy is %q", cfg.Image, PullNever)
		case PullAlways: // pulled already, and still missing
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
