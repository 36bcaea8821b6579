package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Restart restarts a workspace container that [Manager.Resolve] found,
// waiting opts.Timeout seconds before it kills it, as `docker restart`:
// after the checks of every start (no overlap; on a local engine, local
// true, no symlink on its path), since a restart mounts the workspace again.
func (m *Manager) Restart(ctx context.Context, w Workspace, opts StopOptions, local bool) (found bool, err error) {
	ctr, err := m.client.ContainerInspect(ctx, w.ID)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect container %s: %w", w.Name, err)
	}
	subdir := w.Subdir
	if subdir == "" {
		subdir = ctr.Config.Labels[LabelSubdir]
	}
	if err := m.checkStart(ctx, subdir, Config{CreateHostDirs: local}, ctr); err != nil {
		if err == errRace {
			return false, nil
		}
		return true, err
	}
	t := DefaultStopTimeout
	if opts.Timeout != nil {
		t = *opts.Timeout
	}
	err = m.client.ContainerRestart(ctx, w.ID, container.StopOptions{Timeout: &t, Signal: opts.Signal})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return true, fmt.Errorf("restart container %s: %w", w.Name, err)
}

// Info is what [Manager.Inspect] tells of a workspace.
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
	// recorded it (environment values hashed); null for a container of the
	// original module.
	Config json.RawMessage
	// Drift names what changed under the container since it was made
	// ("image": its image reference names another image now).
	Drift          []string
	ComposeProject string `json:",omitempty"`
	Labels         map[string]string
}

// Inspect tells what a workspace container that [Manager.Resolve] found is.
func (m *Manager) Inspect(ctx context.Context, w Workspace) (Info, error) {
	ctr, err := m.client.ContainerInspect(ctx, w.ID)
	if err != nil {
		return Info{}, fmt.Errorf("inspect container %s: %w", w.Name, err)
	}
	info := Info{
		ID: ctr.ID, Name: trimSlash(ctr.Name), Subdir: w.Subdir, Mode: w.Mode, Created: ctr.Created, State: ctr.State,
		Image: ctr.Config.Image, ImageID: ctr.Image, Mounts: ctr.Mounts, Labels: ctr.Config.Labels,
		ComposeProject: ctr.Config.Labels[LabelComposeProject], Drift: []string{},
	}
	if raw := ctr.Config.Labels[LabelConfig]; json.Valid([]byte(raw)) {
		info.Config = json.RawMessage(raw)
	} else {
		info.Config = json.RawMessage("null")
	}
	ws := []Workspace{{ID: ctr.ID, Image: info.Image, ImageID: info.ImageID}}
	if err := m.ImageDrift(ctx, ws); err != nil {
		return info, err
	}
	if ws[0].Drift != nil {
		info.Drift = ws[0].Drift
	}
	return info, nil
}

// PruneOptions say which stopped workspace containers [Manager.Prune]
// removes.
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
}

// Prune removes the stopped workspace containers of ours (labelled), and
// the temporary containers whose process is gone (gws_new_…, gws_helper_…)
// or that a killed replacement set aside (gws_old_…). Never a running
// container, never a volume, never a directory: the data stays, and the
// next ensure makes a new container. A container of the original module
// (no labels) is left alone.
func (m *Manager) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	f := filters.NewArgs(filters.Arg("name", "^/?gws[-_]"))
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{All: true, Size: true, Filters: f})
	if err != nil {
		return PruneReport{}, fmt.Errorf("list containers: %w", err)
	}
	labels := filters.NewArgs()
	for _, l := range opts.Labels {
		labels.Add("label", l)
	}
	var report PruneReport
	var now int64
	for _, c := range ctrs {
		now = max(now, c.Created)
	}
	for _, c := range ctrs {
		name := trimSlash(firstName(&c))
		_, labelled := c.Labels[LabelSubdir]
		_, helper := c.Labels[LabelHelper]
		temp := tempNameRE.MatchString(firstName(&c))
		switch {
		case c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting:
			continue
		case !labelled && !helper:
			continue // not ours for sure
		case temp && !strings.HasPrefix(name, oldPrefix) && !garbage(c, now):
			continue // an ensure is making it now
		case !opts.Until.IsZero() && !time.Unix(c.Created, 0).Before(opts.Until):
			continue
		case !labels.MatchKVList("label", c.Labels):
			continue
		case opts.ComposeProject != "" && c.Labels[LabelComposeProject] != opts.ComposeProject:
			continue
		}
		// A fresh temporary container's anonymous volumes are its own; the
		// volumes of a workspace container are never removed.
		rmVolumes := temp && !strings.HasPrefix(name, oldPrefix)
		err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{RemoveVolumes: rmVolumes})
		switch {
		case cerrdefs.IsNotFound(err):
			continue
		case cerrdefs.IsConflict(err):
			continue // started, or being removed, meanwhile
		case err != nil:
			return report, fmt.Errorf("remove container %s: %w", name, err)
		}
		report.Removed = append(report.Removed, Workspace{ID: c.ID, Name: name, Subdir: c.Labels[LabelSubdir]})
		if c.SizeRw > 0 {
			report.SpaceReclaimed += uint64(c.SizeRw)
		}
	}
	return report, nil
}
