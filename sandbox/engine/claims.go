package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// listClaimants lists the containers that can hold a workspace or be
// garbage of ours (gws-… and gws_…), and collects the garbage.
func (m *Manager) listClaimants(ctx context.Context) ([]container.Summary, error) {
	ctrs, err := m.listOurs(ctx)
	if err != nil {
		return nil, err
	}
	return m.collect(ctx, ctrs), nil
}

// listOurs lists the containers named gws-… and gws_….
func (m *Manager) listOurs(ctx context.Context) ([]container.Summary, error) {
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("name", "^/?gws[-_]")),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return ctrs, nil
}

// checkNew decides whether a new workspace may go on (claims.Check): a
// container it conflicts with wins when the engine created it before the
// new workspace's own (to the nanosecond); later ones are not its concern:
// they will see it. Without a container of its own, whoever is there came
// first.
func (m *Manager) checkNew(ctx context.Context, n claims.New, ctrs []container.Summary, records []claims.Claim) error {
	var mine *container.Summary
	for i := range ctrs {
		if ctrs[i].ID == n.SelfID {
			mine = &ctrs[i]
		}
	}
	if mine == nil && n.SelfID != "" {
		return errRace // removed under us
	}
	if claims.NeedsDevices(n, ctrs) {
		devices, err := m.bindVolumeDevices(ctx)
		if err != nil {
			return err
		}
		n.Devices = devices
	}
	conflicts, err := claims.Check(n, ctrs, records)
	if err != nil {
		return err
	}
	for _, c := range conflicts {
		if mine == nil {
			return c.Err
		}
		earlier, err := m.createdBefore(ctx, c.With, mine)
		if err != nil {
			return err
		}
		if earlier {
			return c.Err
		}
	}
	return nil
}

// bindVolumeDevices are the host directories that the engine's local
// volumes bind (type none, o=bind), by volume name: what the containers'
// volume mounts are on the engine's host.
func (m *Manager) bindVolumeDevices(ctx context.Context) (map[string]string, error) {
	vols, err := m.client.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := map[string]string{}
	for _, v := range vols.Volumes {
		if v == nil || v.Driver != "local" {
			continue
		}
		for _, o := range strings.Split(v.Options["o"], ",") {
			if (o == "bind" || o == "rbind") && path.IsAbs(v.Options["device"]) {
				out[v.Name] = path.Clean(v.Options["device"])
			}
		}
	}
	return out, nil
}

// createdBefore says whether the engine created a before b (to the
// nanosecond; the container list has seconds only).
func (m *Manager) createdBefore(ctx context.Context, a, b *container.Summary) (bool, error) {
	if a.Created != b.Created {
		return a.Created < b.Created, nil
	}
	ta, err := m.client.ContainerInspect(ctx, a.ID)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect container %s: %w", short(a.ID), err)
	}
	tb, err := m.client.ContainerInspect(ctx, b.ID)
	if err != nil {
		return false, fmt.Errorf("inspect container %s: %w", short(b.ID), err)
	}
	ca, errA := time.Parse(time.RFC3339Nano, ta.Created)
	cb, errB := time.Parse(time.RFC3339Nano, tb.Created)
	if errA == nil && errB == nil && !ca.Equal(cb) {
		return ca.Before(cb), nil
	}
	return a.ID < b.ID, nil
}

// checkStart is what is checked before a stopped container starts: that no
// other workspace overlaps it (a pair made before overlaps were refused is
// never started), and on a local engine that no symlink lies on its path
// below the root — the engine follows symlinks at every start. On a remote
// engine or in a volume the path is not looked at again (that would cost a
// helper container at every start): no tenant can change a path element of
// another workspace when none overlaps.
// root is the configured root, for a container whose path does not tell.
func (m *Manager) checkStart(ctx context.Context, subdir string, local bool, root string, ctr container.InspectResponse) error {
	self, ok := claims.OfInspect(subdir, ctr)
	if !ok {
		return nil // no workspace mount: checkIdentity let it through as ours
	}
	self.Subdir = subdir
	var records []claims.Claim
	if self.Bind != "" && local {
		var err error
		if records, err = m.checkLocalPath(ctx, self, root, ctr); err != nil {
			return err
		}
	}
	ctrs, err := m.listClaimants(ctx)
	if err != nil {
		return err
	}
	if err := claims.CheckStart(self, ctr.ID, ctrs, records); err != nil {
		return fmt.Errorf("refusing to start %s: %w", trimSlash(ctr.Name), err)
	}
	return nil
}

// checkLocalPath walks to a bind workspace of this host without following
// a symlink, and returns the records of its root.
func (m *Manager) checkLocalPath(ctx context.Context, self claims.Claim, configured string, ctr container.InspectResponse) ([]claims.Claim, error) {
	root := strings.TrimSuffix(self.Bind, "/"+filepath.FromSlash(self.Subdir))
	if root == self.Bind {
		root = configured
	}
	r, err := hostfs.OpenRoot(root, false)
	if err != nil {
		return nil, fmt.Errorf("refusing to start %s: %w", trimSlash(ctr.Name), err)
	}
	defer r.Close()
	ws, _, err := r.WorkspaceDir(self.Subdir, false)
	if errors.Is(err, os.ErrNotExist) {
		// Its directory is gone: is the container too (a failed ensure
		// removing what it made)?
		if _, ierr := m.client.ContainerInspect(ctx, ctr.ID); cerrdefs.IsNotFound(ierr) {
			return nil, errRace
		}
	}
	if err != nil {
		return nil, fmt.Errorf("refusing to start %s: %w", trimSlash(ctr.Name), err)
	}
	ws.Close()
	subdirs, err := r.Records()
	if err != nil {
		return nil, err
	}
	return claims.FromRecords(subdirs, r.Path, "", r.Path), nil
}
