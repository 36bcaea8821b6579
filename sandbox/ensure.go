package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/api/types/versions"
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

// Ensure makes sure that the container of the workspace subdir exists and
// runs, whatever state it is found in:
//
//   - running: left untouched, one inspect;
//   - created or exited: started; paused: unpaused;
//   - restarting: waited for until it settles; being removed: waited for,
//     then created again;
//   - dead: an error, or replaced when cfg.Recreate is not "never";
//   - missing: created (its image pulled as cfg.Pull allows) and started.
//
// Any number of concurrent calls, in one process or many, end with one
// container: a create that loses the race uses the winner's. A container
// with the name but another workspace's label, or one without labels whose
// workspace mount is not ours, is refused and left untouched.
func (m *Manager) Ensure(ctx context.Context, subdir string, cfg Config) (Result, error) {
	if err := ValidateSubdir(subdir); err != nil {
		return Result{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	name := ContainerName(subdir)
	if cfg.Pull == PullAlways {
		if err := m.pull(ctx, cfg.Image); err != nil {
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
			res, err := m.create(ctx, subdir, name, cfg)
			if errors.Is(err, errRace) {
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
		imageID := ctr.Image // assume the reference still names the container's image
		if checkImage {
			if imageID, err = m.imageID(ctx, cfg.Image); err != nil && !cerrdefs.IsNotFound(err) {
				return res, err
			}
		}
		res.Drift = drift(ctr.Config.Labels, specFor(subdir, cfg, imageID))

		status := ctr.State.Status
		replace := cfg.Recreate == RecreateAlways && !recreated ||
			cfg.Recreate == RecreateIfChanged && len(res.Drift) > 0 ||
			status == container.StateDead && cfg.Recreate != "" && cfg.Recreate != RecreateNever
		if replace && status != container.StateRemoving {
			if err := m.remove(ctx, ctr.ID, name); err != nil {
				return res, err
			}
			recreated = true
			continue
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
			if err := m.client.ContainerStart(ctx, ctr.ID, container.StartOptions{}); err != nil {
				if cerrdefs.IsNotFound(err) {
					continue // removed meanwhile: create it again
				}
				return res, fmt.Errorf("start container %s: %w", name, err)
			}
			res.Action = ActionStarted
			return res, nil
		case container.StateRestarting:
			if err := wait("restarting"); err != nil {
				return res, err
			}
		case container.StateRemoving:
			if err := m.waitRemoved(ctx, ctr.ID); err != nil {
				return res, fmt.Errorf("container %s is being removed: %w", name, err)
			}
		case container.StateDead:
			return res, fmt.Errorf("container %s is dead (the engine failed to remove or stop it): remove it with `docker workspace rm -f %s`, or ensure with --recreate if-changed", name, subdir)
		default:
			return res, fmt.Errorf("container %s is in an unknown state %q", name, status)
		}
	}
	return Result{}, fmt.Errorf("container %s: it kept changing state; gave up after %d attempts", name, maxAttempts)
}

// errRace: another caller created or removed the container meanwhile.
var errRace = errors.New("the container changed meanwhile")

// create creates and starts the container of a workspace.
func (m *Manager) create(ctx context.Context, subdir, name string, cfg Config) (Result, error) {
	if cfg.Mode == ModeVolumeSubpath {
		if v := m.client.ClientVersion(); versions.LessThan(v, apiVersionSubpath) {
			return Result{}, fmt.Errorf("volume_subpath mode needs Docker Engine API %s or later (Engine 26+), but this engine speaks API %s: it would silently mount the whole volume and show every workspace to every workspace container; use bind mode or a newer engine", apiVersionSubpath, v)
		}
	}
	imageID, imageUser, err := m.ensureImage(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	// Directories made for the container go to the user it runs as.
	owner := cfg.User
	if owner == "" {
		owner = imageUser
	}
	mounts, err := m.prepareMounts(ctx, subdir, cfg, owner)
	if err != nil {
		return Result{}, err
	}
	s := specFor(subdir, cfg, imageID)
	labels := map[string]string{
		LabelSubdir: subdir, LabelMode: string(cfg.Mode),
		LabelConfigHash: s.hash(), LabelConfig: s.json(),
	}
	if m.Version != "" {
		labels[LabelVersion] = m.Version
	}
	if cfg.ComposeProject != "" {
		labels[LabelComposeProject] = cfg.ComposeProject
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	hc := &container.HostConfig{
		Mounts:      mounts,
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
	resp, err := m.client.ContainerCreate(ctx,
		&container.Config{Image: cfg.Image, Entrypoint: sleepForever, User: cfg.User, Env: cfg.Env, Labels: labels},
		hc, nil, nil, name)
	if cerrdefs.IsConflict(err) {
		return Result{}, errRace
	}
	if err != nil {
		return Result{}, fmt.Errorf("create container %s: %w", name, err)
	}
	if err := m.client.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return Result{}, errRace
		}
		return Result{}, fmt.Errorf("start container %s: %w", name, err)
	}
	return Result{ID: resp.ID, Name: name, Subdir: subdir, Action: ActionCreated, Mode: cfg.Mode, Image: cfg.Image}, nil
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
// policy allows, and returns its ID and the user it runs as.
func (m *Manager) ensureImage(ctx context.Context, cfg Config) (id, user string, err error) {
	img, err := m.inspectImage(ctx, cfg.Image)
	if cerrdefs.IsNotFound(err) {
		switch cfg.Pull {
		case PullNever:
			return "", "", fmt.Errorf("image %s is not on the engine and the pull policy is %q", cfg.Image, PullNever)
		case PullAlways: // pulled already, and still missing
			return "", "", fmt.Errorf("image %s is not on the engine after pulling it: %w", cfg.Image, err)
		}
		if err := m.pull(ctx, cfg.Image); err != nil {
			return "", "", err
		}
		if img, err = m.inspectImage(ctx, cfg.Image); err != nil {
			return "", "", fmt.Errorf("image %s: %w", cfg.Image, err)
		}
	}
	if err != nil {
		return "", "", err
	}
	if img.Config != nil {
		user = img.Config.User
	}
	return img.ID, user, nil
}

// remove removes a container (never a volume); one already gone is fine.
func (m *Manager) remove(ctx context.Context, id, name string) error {
	err := m.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		if cerrdefs.IsConflict(err) { // removal already in progress
			return m.waitRemoved(ctx, id)
		}
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	return nil
}

// waitRemoved waits until a container that is being removed is gone.
func (m *Manager) waitRemoved(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, removeTimeout)
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
