package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// Restart restarts a workspace container that Resolve found, waiting
// opts.Timeout seconds before it kills it, as `docker restart`: after the
// checks of every start (no overlap; on a local engine, no symlink on its
// path), since a restart mounts the workspace again. One gone meanwhile
// gives an error that wraps sandbox.ErrNoSuchWorkspace.
func (m *Manager) Restart(ctx context.Context, w sandbox.Workspace, opts sandbox.StopOptions) error {
	gone := fmt.Errorf("%w: container %s is gone", sandbox.ErrNoSuchWorkspace, w.Name)
	ctr, err := m.client.ContainerInspect(ctx, w.ID)
	if cerrdefs.IsNotFound(err) {
		return gone
	}
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", w.Name, err)
	}
	subdir := w.Subdir
	if subdir == "" {
		subdir = ctr.Config.Labels[sandbox.LabelSubdir]
	}
	if err := m.checkStart(ctx, subdir, m.opts.Local, "", ctr); err != nil {
		if errors.Is(err, errRace) {
			return gone
		}
		return err
	}
	if err := m.proxyOf(ctx, nil, ctr.Config.Labels, sandbox.Config{}); err != nil {
		return err // never started without its proxy
	}
	t := opts.Seconds()
	err = m.client.ContainerRestart(ctx, w.ID, container.StopOptions{Timeout: &t, Signal: opts.Signal})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return gone
	}
	return fmt.Errorf("restart container %s: %w", w.Name, err)
}

// Inspect tells what a workspace container that [Manager.Resolve] found is.
func (m *Manager) Inspect(ctx context.Context, w sandbox.Workspace) (sandbox.Info, error) {
	ctr, err := m.client.ContainerInspect(ctx, w.ID)
	if err != nil {
		return sandbox.Info{}, fmt.Errorf("inspect container %s: %w", w.Name, err)
	}
	info := sandbox.Info{
		ID: ctr.ID, Name: trimSlash(ctr.Name), Subdir: w.Subdir, Mode: w.Mode, Created: ctr.Created, State: ctr.State,
		Image: ctr.Config.Image, ImageID: ctr.Image, Mounts: ctr.Mounts, Labels: ctr.Config.Labels,
		ComposeProject: ctr.Config.Labels[sandbox.LabelComposeProject], Drift: []string{},
	}
	if raw := ctr.Config.Labels[sandbox.LabelConfig]; raw != "" {
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber() // numbers as recorded
		if d.Decode(&info.Config) != nil {
			info.Config = nil
		}
	}
	ws := []sandbox.Workspace{{ID: ctr.ID, Image: info.Image, ImageID: info.ImageID}}
	if err := m.imageDrift(ctx, ws); err != nil {
		return info, err
	}
	if ws[0].Drift != nil {
		info.Drift = ws[0].Drift
	}
	return info, nil
}

// Prune removes the stopped workspace containers of ours (labelled), and
// the temporary containers whose process is gone (gws_new_…, gws_helper_…)
// or that a killed replacement set aside (gws_old_…). Never a running
// container, never a volume, never a directory: the data stays, and the
// next ensure makes a new container. A container of the original module
// (no labels) is left alone.
func (m *Manager) Prune(ctx context.Context, opts sandbox.PruneOptions) (sandbox.PruneReport, error) {
	f := filters.NewArgs(filters.Arg("name", "^/?gws[-_]"))
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{All: true, Size: true, Filters: f})
	if err != nil {
		return sandbox.PruneReport{}, fmt.Errorf("list containers: %w", err)
	}
	var report sandbox.PruneReport
	var now int64
	for _, c := range ctrs {
		now = max(now, c.Created)
	}
	for _, c := range ctrs {
		if !prunable(c, opts, now) {
			continue
		}
		name := trimSlash(claims.FirstName(&c))
		// A fresh temporary container's anonymous volumes are its own; the
		// volumes of a workspace container are never removed.
		rmVolumes := isTempName(name) && !strings.HasPrefix(name, oldPrefix)
		err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{RemoveVolumes: rmVolumes})
		switch {
		case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err):
			continue // removed, started, or being removed, meanwhile
		case err != nil:
			return report, fmt.Errorf("remove container %s: %w", name, err)
		}
		report.Removed = append(report.Removed, sandbox.Workspace{ID: c.ID, Name: name, Subdir: c.Labels[sandbox.LabelSubdir]})
		if c.SizeRw > 0 {
			report.SpaceReclaimed += uint64(c.SizeRw)
		}
		if subdir := c.Labels[sandbox.LabelSubdir]; recordedEgress(c.Labels).Proxied() && !isTempName(name) {
			if err := m.removeEgress(ctx, name, subdir); err != nil {
				return report, err
			}
			proxyName, _ := egressNames(name)
			report.Egress = append(report.Egress, proxyName)
		}
	}
	return report, m.pruneOrphanProxies(ctx, opts, &report)
}

// pruneOrphanProxies removes the egress proxies (with their state and
// network) whose workspace has no container.
func (m *Manager) pruneOrphanProxies(ctx context.Context, opts sandbox.PruneOptions, report *sandbox.PruneReport) error {
	orphans, err := m.orphanProxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range orphans {
		subdir := p.Labels[sandbox.LabelEgressOf]
		if !orphanSelected(opts, subdir, p.Labels[sandbox.LabelComposeProject]) {
			continue
		}
		if err := m.removeEgress(ctx, sandbox.ContainerName(subdir), subdir); err != nil {
			return err
		}
		report.Egress = append(report.Egress, trimSlash(claims.FirstName(&p)))
	}
	return m.pruneOrphanNetworks(ctx, opts)
}

// orphanSelected says whether a prune with opts takes the leftovers (a
// proxy, its volume, a network) of subdir, whose container is gone: an
// unfiltered prune takes all; one filtered by subdir, those of that
// subdir; one by project, those its proxy says are the project's
// (project); any other filter (a label, a time) cannot tell of them, and
// takes none.
func orphanSelected(opts sandbox.PruneOptions, subdir, project string) bool {
	if !opts.Until.IsZero() || (opts.ComposeProject != "" && opts.ComposeProject != project) {
		return false
	}
	for _, l := range opts.Labels {
		if k, v, _ := strings.Cut(l, "="); k != sandbox.LabelSubdir || v != subdir {
			return false
		}
	}
	return true
}

// pruneOrphanNetworks removes the networks of workspaces that have no
// container and no proxy (an interrupted ensure's, made by the engine
// after it gave up); one in use is left.
func (m *Manager) pruneOrphanNetworks(ctx context.Context, opts sandbox.PruneOptions) error {
	nets, err := m.client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelEgress+"=network"))})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	if len(nets) == 0 {
		return nil
	}
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelEgressOf))})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	ours, err := m.listOurs(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, c := range append(ctrs, ours...) {
		used[c.Labels[sandbox.LabelEgressOf]], used[c.Labels[sandbox.LabelSubdir]] = true, true
	}
	for _, n := range nets {
		if subdir := n.Labels[sandbox.LabelEgressOf]; subdir != "" && !used[subdir] && n.Driver == "bridge" && orphanSelected(opts, subdir, "") {
			if err := m.client.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) && !cerrdefs.IsPermissionDenied(err) {
				return fmt.Errorf("remove network %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

// prunable says whether prune removes a container of a list (now: the
// engine's time): a stopped one of ours that matches the options — never a
// running one, one of nobody's or of an orchestrator's task, nor a
// temporary one an ensure is making now.
func prunable(c container.Summary, opts sandbox.PruneOptions, now int64) bool {
	name := trimSlash(claims.FirstName(&c))
	_, labelled := c.Labels[sandbox.LabelSubdir]
	_, helper := c.Labels[sandbox.LabelHelper]
	labels := filters.NewArgs()
	for _, l := range opts.Labels {
		labels.Add("label", l)
	}
	switch {
	case c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting:
		return false
	case !labelled && !helper, claims.IsTask(&c):
		return false // not ours for sure; an orchestrator's task's
	case isTempName(name) && !strings.HasPrefix(name, oldPrefix) && !garbage(c, now):
		return false // an ensure is making it now
	case !opts.Until.IsZero() && !time.Unix(c.Created, 0).Before(opts.Until):
		return false
	case opts.ComposeProject != "" && c.Labels[sandbox.LabelComposeProject] != opts.ComposeProject:
		return false
	}
	return labels.MatchKVList("label", c.Labels)
}
