package sandbox

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
)

// Action says what [Manager.Ensure] did.
type Action string

const (
	// ActionCreated: the container did not exist; it was created and started.
	ActionCreated Action = "created"
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
}

// sleepForever is the entrypoint that keeps a workspace container alive.
var sleepForever = []string{"sleep", "infinity"}

// Ensure makes sure that the container of the workspace subdir exists and
// runs. A running container costs one inspect and is left untouched; a
// stopped one is started; a missing one is created (pulling its image as
// cfg.Pull allows) and started. A concurrent Ensure that wins the race to
// create it is no error: its container is used.
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
	ctr, err := m.client.ContainerInspect(ctx, name)
	if err == nil {
		return m.startExisting(ctx, subdir, cfg, ctr)
	}
	if !cerrdefs.IsNotFound(err) {
		return Result{}, fmt.Errorf("inspect container %s: %w", name, err)
	}
	return m.create(ctx, subdir, name, cfg)
}

// startExisting brings an existing container to running.
func (m *Manager) startExisting(ctx context.Context, subdir string, cfg Config, ctr container.InspectResponse) (Result, error) {
	res := Result{ID: ctr.ID, Name: trimSlash(ctr.Name), Subdir: subdir, Mode: cfg.Mode, Action: ActionRunning}
	if ctr.Config != nil {
		res.Image = ctr.Config.Image
		if mode := MountMode(ctr.Config.Labels[LabelMode]); mode != "" {
			res.Mode = mode
		}
	}
	if ctr.State == nil {
		return res, fmt.Errorf("container %s reports no state", res.Name)
	}
	switch ctr.State.Status {
	case container.StateRunning:
		return res, nil
	case container.StatePaused:
		if err := m.client.ContainerUnpause(ctx, ctr.ID); err != nil {
			return res, fmt.Errorf("unpause container %s: %w", res.Name, err)
		}
		res.Action = ActionUnpaused
		return res, nil
	}
	if err := m.start(ctx, ctr.ID, res.Name); err != nil {
		return res, err
	}
	res.Action = ActionStarted
	return res, nil
}

// start starts a container; one that another caller started meanwhile is
// no error.
func (m *Manager) start(ctx context.Context, id, name string) error {
	if err := m.client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", name, err)
	}
	return nil
}

// create creates and starts the container of a workspace.
func (m *Manager) create(ctx context.Context, subdir, name string, cfg Config) (Result, error) {
	if cfg.Mode == ModeVolumeSubpath {
		if v := m.client.ClientVersion(); versions.LessThan(v, apiVersionSubpath) {
			return Result{}, fmt.Errorf("volume_subpath mode needs Docker Engine API %s or later (Engine 26+), but this engine speaks API %s: it would silently mount the whole volume and show every workspace to every workspace container; use bind mode or a newer engine", apiVersionSubpath, v)
		}
	}
	resp, err := m.createContainer(ctx, subdir, name, cfg)
	var missing *imageMissingError
	if errors.As(err, &missing) {
		if cfg.Pull == PullNever {
			return Result{}, fmt.Errorf("image %s is not on the engine and the pull policy is %q", cfg.Image, PullNever)
		}
		if cfg.Pull == PullAlways { // pulled already, and still missing
			return Result{}, fmt.Errorf("image %s: %w", cfg.Image, missing.err)
		}
		if err := m.pull(ctx, cfg.Image); err != nil {
			return Result{}, err
		}
		resp, err = m.createContainer(ctx, subdir, name, cfg)
	}
	if cerrdefs.IsConflict(err) {
		// Another caller created it first: use theirs.
		ctr, ierr := m.client.ContainerInspect(ctx, name)
		if ierr != nil {
			return Result{}, fmt.Errorf("create container %s: %w (and inspecting it: %w)", name, err, ierr)
		}
		return m.startExisting(ctx, subdir, cfg, ctr)
	}
	if err != nil {
		return Result{}, err
	}
	if err := m.start(ctx, resp.ID, name); err != nil {
		return Result{}, err
	}
	return Result{ID: resp.ID, Name: name, Subdir: subdir, Action: ActionCreated, Mode: cfg.Mode, Image: cfg.Image}, nil
}

func (m *Manager) createContainer(ctx context.Context, subdir, name string, cfg Config) (container.CreateResponse, error) {
	mounts, err := m.mounts(ctx, subdir, cfg)
	if err != nil {
		return container.CreateResponse{}, err
	}
	labels := map[string]string{LabelSubdir: subdir, LabelMode: string(cfg.Mode)}
	if m.Version != "" {
		labels[LabelVersion] = m.Version
	}
	resp, err := m.client.ContainerCreate(ctx,
		&container.Config{Image: cfg.Image, Entrypoint: sleepForever, Labels: labels},
		&container.HostConfig{Mounts: mounts, NetworkMode: container.NetworkMode(cfg.Network), Init: &cfg.Init},
		nil, nil, name)
	if err == nil || cerrdefs.IsConflict(err) {
		return resp, err
	}
	if cerrdefs.IsNotFound(err) {
		// The image, or the network? Only the image is worth a pull.
		if _, ierr := m.client.ImageInspect(ctx, cfg.Image); cerrdefs.IsNotFound(ierr) {
			return resp, &imageMissingError{err: err}
		}
	}
	return resp, fmt.Errorf("create container %s: %w", name, err)
}

// imageMissingError: the engine lacks the image of the container to create.
type imageMissingError struct{ err error }

func (e *imageMissingError) Error() string { return e.err.Error() }
func (e *imageMissingError) Unwrap() error { return e.err }

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}
