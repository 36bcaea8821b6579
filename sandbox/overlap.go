package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
)

// Workspaces never overlap: on one root (or in one volume) no workspace's
// directory is an ancestor of another's. A workspace container sees its own
// directory, so the container of "team" would see, change, and replace with
// a symlink anything of "team/bob". Nesting below a plain directory ("team/"
// holding "team/bob" and "team/carol") is fine.
//
// What counts as a workspace: every container that mounts one (ours, found
// by label; those of the original module, by their workspace mount), and
// every registry record (a workspace whose container was removed: its data
// is still there).
//
// Race-free across processes, without a lock: a new workspace container is
// created under a temporary name first, and only then are the containers
// listed and the registry read. Of two overlapping new workspaces, the one
// whose container the engine created first wins; the later one sees it in
// its list and gives up. A workspace records itself in the registry only
// after it won, before its container takes its name and starts, so a
// workspace that won and whose container was removed since still counts.

// ErrOverlap is wrapped by the error of a workspace that would overlap
// another.
var ErrOverlap = errors.New("workspaces must not overlap")

// A claim is a workspace's hold on a directory.
type claim struct {
	subdir  string // "" for a container of the original module
	bind    string // bind mode: the absolute path on the engine's host
	volume  string // volume_subpath mode: the volume
	subpath string // volume_subpath mode: the subpath ("" is the whole volume)
	ctr     *container.Summary
	where   string // for a record: the root or volume it is recorded in
}

func (c claim) String() string {
	who := "a workspace"
	if c.subdir != "" {
		who = fmt.Sprintf("workspace %q", c.subdir)
	}
	switch {
	case c.ctr != nil && len(c.ctr.Names) > 0:
		return fmt.Sprintf("%s (container %s)", who, trimSlash(c.ctr.Names[0]))
	case c.ctr != nil:
		return fmt.Sprintf("%s (container %s)", who, short(c.ctr.ID))
	default:
		return fmt.Sprintf("%s (recorded in %s)", who, c.where)
	}
}

// below says whether a's directory is a strict ancestor of b's.
func below(a, b claim) bool {
	switch {
	case a.bind != "" && b.bind != "":
		return strings.HasPrefix(b.bind, strings.TrimSuffix(a.bind, "/")+"/")
	case a.volume != "" && a.volume == b.volume:
		return a.subpath == "" && b.subpath != "" || strings.HasPrefix(b.subpath, a.subpath+"/") && a.subpath != ""
	}
	return false
}

// overlaps says whether two claims conflict: one directory holds the
// other's, or both are one directory for two workspaces (two roots that
// meet: root/a/b and root/a with b).
func overlaps(a, b claim) bool {
	return below(a, b) || below(b, a) || samePlace(a, b) && a.key() != b.key()
}

func samePlace(a, b claim) bool {
	return a.bind != "" && filepath.Clean(a.bind) == filepath.Clean(b.bind) ||
		a.volume != "" && a.volume == b.volume && a.subpath == b.subpath
}

// key names the workspace of a claim: its container's name.
func (c claim) key() string {
	if c.subdir != "" {
		return ContainerName(c.subdir)
	}
	if c.ctr != nil && !tempNameRE.MatchString(firstName(c.ctr)) {
		return trimSlash(firstName(c.ctr))
	}
	return ""
}

// containerClaim is the claim of a container of a list, if it mounts a
// workspace that can be told.
func containerClaim(c *container.Summary) (claim, bool) {
	if _, helper := c.Labels[LabelHelper]; helper {
		return claim{}, false
	}
	subdir, labelled := c.Labels[LabelSubdir]
	for _, mp := range c.Mounts {
		if mp.Destination != WorkspaceTarget {
			continue
		}
		switch {
		case mp.Type == mount.TypeBind:
			return claim{subdir: subdir, bind: filepath.Clean(mp.Source), ctr: c}, true
		case mp.Type == mount.TypeVolume && labelled:
			// Ours mount the subdir as the subpath.
			return claim{subdir: subdir, volume: mp.Name, subpath: subdir, ctr: c}, true
		}
	}
	return claim{}, false
}

// recordClaims turns the subdirs recorded in a registry into claims: below
// the bind root bindRoot, or in the volume vol.
func recordClaims(subdirs []string, bindRoot, vol, where string) []claim {
	out := make([]claim, 0, len(subdirs))
	for _, s := range subdirs {
		c := claim{subdir: s, where: where}
		if bindRoot != "" {
			c.bind = filepath.Join(bindRoot, filepath.FromSlash(s))
		} else {
			c.volume, c.subpath = vol, s
		}
		out = append(out, c)
	}
	return out
}

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

// overlappingPairs names every pair of workspaces that overlap among the
// containers of a list (and records), for doctor.
func overlappingPairs(ctrs []container.Summary, records []claim) []string {
	var claims []claim
	for i := range ctrs {
		if strings.HasPrefix(trimSlash(firstName(&ctrs[i])), NamePrefix) {
			if c, ok := containerClaim(&ctrs[i]); ok {
				claims = append(claims, c)
			}
		}
	}
	var out []string
	for i, a := range claims {
		for _, b := range claims[i+1:] {
			if overlaps(a, b) {
				out = append(out, fmt.Sprintf("%s and %s overlap: ensure starts neither; remove one container and move its data out of the other's directory", a, b))
			}
		}
		for _, r := range records {
			if r.subdir != a.subdir && overlaps(a, r) {
				out = append(out, fmt.Sprintf("%s and %s overlap: ensure starts neither; remove the container, move its data, and delete its record in %s", a, r, registryPath))
			}
		}
	}
	return out
}

// sharedClaim is the hold of a container on its shared directory or
// volume (given its mounts, or a container's).
func sharedClaim(mounts []mount.Mount) (claim, bool) {
	for _, m := range mounts {
		switch {
		case m.Target != SharedTarget:
		case m.Type == mount.TypeBind:
			return claim{bind: filepath.Clean(m.Source)}, true
		case m.Type == mount.TypeVolume:
			return claim{volume: m.Source}, true
		}
	}
	return claim{}, false
}

func containerSharedClaim(c *container.Summary) (claim, bool) {
	if _, helper := c.Labels[LabelHelper]; helper {
		return claim{}, false
	}
	for _, mp := range c.Mounts {
		if mp.Destination != SharedTarget {
			continue
		}
		switch mp.Type {
		case mount.TypeBind:
			return claim{subdir: c.Labels[LabelSubdir], bind: filepath.Clean(mp.Source), ctr: c}, true
		case mount.TypeVolume:
			return claim{subdir: c.Labels[LabelSubdir], volume: mp.Name, ctr: c}, true
		}
	}
	return claim{}, false
}

// meets says whether a workspace's directory and a shared directory (of
// any configuration) meet: one is, holds or lies in the other. Every
// container that mounts the shared directory would see the workspace, or
// the workspace's tenant the shared directory of others.
func meets(ws, shared claim) bool {
	return below(ws, shared) || below(shared, ws) || samePlace(ws, shared) ||
		ws.volume != "" && ws.volume == shared.volume
}

func sharedMeetError(self claim, selfShared bool, other claim) error {
	if selfShared {
		return fmt.Errorf("%w: the shared directory of workspace %q would be, hold or lie in the directory of %s: that workspace's tenant would see the shared data of others, and they its data; nothing was changed",
			ErrOverlap, self.subdir, other)
	}
	return fmt.Errorf("%w: workspace %q would be, hold or lie in the shared directory of %s: every container that shares it would see the workspace; nothing was changed",
		ErrOverlap, self.subdir, other)
}

// checkNewOverlap decides whether the new workspace self, whose container
// (under its temporary name) is selfID and whose shared directory is
// shared, may go on: not when a record overlaps it, nor a container that
// overlaps it (or whose shared directory meets it, or whose workspace meets
// its shared directory) and that the engine created before selfID. Later
// ones are not its concern: they will see selfID.
func (m *Manager) checkNewOverlap(ctx context.Context, self claim, shared claim, selfID string, ctrs []container.Summary, records []claim) error {
	var mine *container.Summary
	for i := range ctrs {
		if ctrs[i].ID == selfID {
			mine = &ctrs[i]
		}
	}
	if mine == nil && selfID != "" {
		return errRace // removed under us
	}
	for _, r := range records {
		if overlaps(self, r) {
			return overlapError(self, r)
		}
	}
	for i := range ctrs {
		c := &ctrs[i]
		if c.ID == selfID || strings.HasPrefix(trimSlash(firstName(c)), oldPrefix) {
			continue
		}
		var conflict error
		if _, task := c.Labels[swarmTaskLabel]; task && !m.onSwarm {
			// On a node of a Swarm, a workspace made as a service runs
			// as a task's container: a second, standalone container of
			// it would be two containers of one workspace.
			if other, ok := containerClaim(c); ok && (samePlace(self, other) || overlaps(self, other)) {
				return fmt.Errorf("%w: workspace %q: this engine runs it (or one it nests with: %q) as a task of Swarm service %s; use --orchestrator swarm with a manager's context: refused",
					ErrOverlap, self.subdir, other.subdir, c.Labels[swarmServiceLabel])
			}
		}
		if other, ok := containerClaim(c); ok && overlaps(self, other) {
			conflict = overlapError(self, other)
		} else if ok && shared.bind+shared.volume != "" && meets(other, shared) {
			conflict = sharedMeetError(self, true, other)
		} else if theirs, ok := containerSharedClaim(c); ok && meets(self, theirs) {
			conflict = sharedMeetError(self, false, theirs)
		} else if ok && (below(shared, theirs) || below(theirs, shared)) {
			// One shared directory in another: the tenants of the outer
			// one could read the inner one's data and swap it for a
			// symlink, the mount of the other's containers.
			conflict = fmt.Errorf("%w: the shared directory of workspace %q would hold or lie in the shared directory of %s: the tenants of the outer one could read and redirect the inner one; share one directory, or two apart; nothing was changed",
				ErrOverlap, self.subdir, theirs)
		}
		if conflict == nil {
			continue
		}
		if mine == nil { // no container of this call's (Swarm): whoever is there came first
			return conflict
		}
		earlier, err := m.createdBefore(ctx, c, mine)
		if err != nil {
			return err
		}
		if earlier {
			return conflict
		}
	}
	return nil
}

// checkStartOverlap refuses to start the container of self while a
// workspace container or a record overlaps it (a pair made before overlaps
// were refused): neither of the two is started.
func checkStartOverlap(self claim, selfID string, ctrs []container.Summary, records []claim) error {
	for _, r := range records {
		if overlaps(self, r) {
			return overlapError(self, r)
		}
	}
	for i := range ctrs {
		c := &ctrs[i]
		if c.ID == selfID || !strings.HasPrefix(trimSlash(firstName(c)), NamePrefix) {
			continue // a temporary container loses to this one
		}
		if other, ok := containerClaim(c); ok && overlaps(self, other) {
			return overlapError(self, other)
		}
	}
	return nil
}

func firstName(c *container.Summary) string {
	if len(c.Names) == 0 {
		return ""
	}
	return c.Names[0]
}

func overlapError(self, other claim) error {
	return fmt.Errorf("%w: workspace %q overlaps %s: the directory of one holds the other's, so one container would see the other's data; nested workspaces are refused (nesting below a plain directory is fine), nothing was changed",
		ErrOverlap, self.subdir, other)
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

// inspectClaim is the claim of an inspected container.
func inspectClaim(subdir string, ctr container.InspectResponse) (claim, bool) {
	s := container.Summary{ID: ctr.ID, Names: []string{ctr.Name}, Mounts: ctr.Mounts}
	if ctr.Config != nil {
		s.Labels = ctr.Config.Labels
	}
	c, ok := containerClaim(&s)
	if ok || ctr.HostConfig == nil {
		return c, ok
	}
	// A volume container of the original module: its subpath is in its
	// HostConfig.
	for _, mp := range ctr.Mounts {
		for _, hm := range ctr.HostConfig.Mounts {
			if mp.Destination == WorkspaceTarget && hm.Target == WorkspaceTarget && mp.Type == mount.TypeVolume && hm.VolumeOptions != nil {
				return claim{subdir: subdir, volume: mp.Name, subpath: hm.VolumeOptions.Subpath, ctr: &s}, true
			}
		}
	}
	return claim{}, false
}

// checkStart is what Ensure checks before it starts a stopped container:
// that no other workspace overlaps it (a pair made before overlaps were
// refused is never started), and on a local engine that no symlink lies on
// its path below the root — the engine follows symlinks at every start.
// On a remote engine or in a volume the path is not looked at again (that
// would cost a helper container at every start): no tenant can change a
// path element of another workspace when none overlaps.
func (m *Manager) checkStart(ctx context.Context, subdir string, cfg Config, ctr container.InspectResponse) error {
	self, ok := inspectClaim(subdir, ctr)
	if !ok {
		return nil // no workspace mount: checkIdentity let it through as ours
	}
	self.subdir = subdir
	var records []claim
	if self.bind != "" && cfg.CreateHostDirs {
		root := strings.TrimSuffix(self.bind, "/"+filepath.FromSlash(subdir))
		if root == self.bind {
			root = cfg.WorkspaceRoot
		}
		r, err := openLocalRoot(root, false)
		if err != nil {
			return fmt.Errorf("workspace %q: refusing to start %s: %w", subdir, trimSlash(ctr.Name), err)
		}
		defer r.Close()
		ws, _, err := r.workspaceDir(subdir, false)
		if errors.Is(err, os.ErrNotExist) {
			// Its directory is gone: is the container too (a failed
			// ensure removing what it made)?
			if _, ierr := m.client.ContainerInspect(ctx, ctr.ID); cerrdefs.IsNotFound(ierr) {
				return errRace
			}
		}
		if err != nil {
			return fmt.Errorf("refusing to start %s: %w", trimSlash(ctr.Name), err)
		}
		ws.Close()
		subdirs, err := r.records()
		if err != nil {
			return err
		}
		records = recordClaims(subdirs, r.path, "", r.path)
	}
	ctrs, err := m.listClaimants(ctx)
	if err != nil {
		return err
	}
	if err := checkStartOverlap(self, ctr.ID, ctrs, records); err != nil {
		return fmt.Errorf("refusing to start %s: %w", trimSlash(ctr.Name), err)
	}
	return nil
}
