// Package claims holds the rules by which workspaces never overlap: what a
// workspace holds (a claim), when two claims conflict, and the records
// that keep a workspace's claim after its container is gone. It decides;
// it asks nothing of an engine.
//
// On one root (or in one volume) no workspace's directory is an ancestor of
// another's. A workspace container sees its own directory, so the container
// of "team" would see, change, and replace with a symlink anything of
// "team/bob". Nesting below a plain directory ("team/" holding "team/bob"
// and "team/carol") is fine. No workspace meets a shared directory either.
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
package claims

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// A Claim is a workspace's hold on a directory.
type Claim struct {
	Subdir  string // "" for a container of the original module
	Bind    string // bind mode: the absolute path on the engine's host
	Volume  string // volume_subpath mode: the volume
	Subpath string // volume_subpath mode: the subpath ("" is the whole volume)
	// Host is, for a volume that binds a directory of the engine's host
	// (a local volume with a device), the host directory of the claim: it
	// meets bind mounts there.
	Host  string
	Ctr   *container.Summary
	Where string // for a record: the root or volume it is recorded in
}

func (c Claim) String() string {
	who := "a workspace"
	if c.Subdir != "" {
		who = fmt.Sprintf("workspace %q", c.Subdir)
	}
	switch {
	case c.Ctr != nil && len(c.Ctr.Names) > 0:
		return fmt.Sprintf("%s (container %s)", who, trimSlash(c.Ctr.Names[0]))
	case c.Ctr != nil:
		return fmt.Sprintf("%s (container %s)", who, Short(c.Ctr.ID))
	default:
		return fmt.Sprintf("%s (recorded in %s)", who, c.Where)
	}
}

// hostDir is the directory of a claim on the engine's host, when known: a
// bind mount's, or a bind volume's.
func (c Claim) hostDir() string {
	if c.Bind != "" {
		return filepath.Clean(c.Bind)
	}
	if c.Host != "" {
		return filepath.Clean(c.Host)
	}
	return ""
}

// below says whether a's directory is a strict ancestor of b's.
func below(a, b Claim) bool {
	ha, hb := a.hostDir(), b.hostDir()
	switch {
	case ha != "" && hb != "" && (a.Volume == "" || a.Volume != b.Volume):
		return strings.HasPrefix(hb, strings.TrimSuffix(ha, "/")+"/")
	case a.Volume != "" && a.Volume == b.Volume:
		return a.Subpath == "" && b.Subpath != "" || strings.HasPrefix(b.Subpath, a.Subpath+"/") && a.Subpath != ""
	}
	return false
}

// Overlaps says whether two claims conflict: one directory holds the
// other's, or both are one directory for two workspaces (two roots that
// meet: root/a/b and root/a with b).
func Overlaps(a, b Claim) bool {
	return below(a, b) || below(b, a) || SamePlace(a, b) && a.key() != b.key()
}

// rootOf is the root of a workspace's claim on the engine's host (a bind
// root, or the directory of a bind volume), told by its subdir ("" when
// it cannot be told).
func rootOf(c Claim) string {
	if c.hostDir() == "" || c.Subdir == "" {
		return ""
	}
	root, ok := strings.CutSuffix(c.hostDir(), "/"+filepath.FromSlash(c.Subdir))
	if !ok || root == "" {
		return ""
	}
	return root
}

// rootsNest says whether the roots of two bind workspaces are two, one in
// the other: a root made around a running root's workspaces (or in one)
// would say that they are its own, or hold them.
func rootsNest(a, b Claim) bool {
	ra, rb := rootOf(a), rootOf(b)
	return ra != "" && rb != "" && ra != rb && sandbox.PathsOverlap(ra, rb)
}

// SamePlace says whether two claims hold one directory.
func SamePlace(a, b Claim) bool {
	return a.hostDir() != "" && a.hostDir() == b.hostDir() ||
		a.Volume != "" && a.Volume == b.Volume && a.Subpath == b.Subpath
}

// key names the workspace of a claim: its container's name.
func (c Claim) key() string {
	if c.Subdir != "" {
		return sandbox.ContainerName(c.Subdir)
	}
	if c.Ctr != nil && strings.HasPrefix(trimSlash(FirstName(c.Ctr)), sandbox.NamePrefix) {
		return trimSlash(FirstName(c.Ctr))
	}
	return ""
}

// meets says whether a workspace's directory and a shared directory (of
// any configuration) meet: one is, holds or lies in the other. Every
// container that mounts the shared directory would see the workspace, or
// the workspace's tenant the shared directory of others.
func meets(ws, shared Claim) bool {
	return below(ws, shared) || below(shared, ws) || SamePlace(ws, shared) ||
		ws.Volume != "" && ws.Volume == shared.Volume
}

// OfContainer is the claim of a container of a list, if it mounts a
// workspace that can be told.
func OfContainer(c *container.Summary) (Claim, bool) {
	if _, helper := c.Labels[sandbox.LabelHelper]; helper {
		return Claim{}, false
	}
	subdir, labelled := c.Labels[sandbox.LabelSubdir]
	for _, mp := range c.Mounts {
		if mp.Destination != sandbox.WorkspaceTarget {
			continue
		}
		switch {
		case mp.Type == mount.TypeBind:
			return Claim{Subdir: subdir, Bind: filepath.Clean(mp.Source), Ctr: c}, true
		case mp.Type == mount.TypeVolume && labelled:
			// Ours mount the subdir as the subpath.
			return Claim{Subdir: subdir, Volume: mp.Name, Subpath: subdir, Ctr: c}, true
		}
	}
	return Claim{}, false
}

// ofShared is the hold of a container of a list on its shared directory or
// volume.
func ofShared(c *container.Summary) (Claim, bool) {
	if _, helper := c.Labels[sandbox.LabelHelper]; helper {
		return Claim{}, false
	}
	for _, mp := range c.Mounts {
		if mp.Destination != sandbox.SharedTarget {
			continue
		}
		switch mp.Type {
		case mount.TypeBind:
			return Claim{Subdir: c.Labels[sandbox.LabelSubdir], Bind: filepath.Clean(mp.Source), Ctr: c}, true
		case mount.TypeVolume:
			return Claim{Subdir: c.Labels[sandbox.LabelSubdir], Volume: mp.Name, Ctr: c}, true
		}
	}
	return Claim{}, false
}

// OfSharedMount is the hold of a new container on its shared directory or
// volume, given its mounts.
func OfSharedMount(mounts []mount.Mount) (Claim, bool) {
	for _, m := range mounts {
		switch {
		case m.Target != sandbox.SharedTarget:
		case m.Type == mount.TypeBind:
			return Claim{Bind: filepath.Clean(m.Source)}, true
		case m.Type == mount.TypeVolume:
			return Claim{Volume: m.Source}, true
		}
	}
	return Claim{}, false
}

// OfInspect is the claim of an inspected container.
func OfInspect(subdir string, ctr container.InspectResponse) (Claim, bool) {
	s := container.Summary{ID: ctr.ID, Names: []string{ctr.Name}, Mounts: ctr.Mounts}
	if ctr.Config != nil {
		s.Labels = ctr.Config.Labels
	}
	c, ok := OfContainer(&s)
	if ok || ctr.HostConfig == nil {
		return c, ok
	}
	// A volume container of the original module: its subpath is in its
	// HostConfig.
	for _, mp := range ctr.Mounts {
		for _, hm := range ctr.HostConfig.Mounts {
			if mp.Destination == sandbox.WorkspaceTarget && hm.Target == sandbox.WorkspaceTarget && mp.Type == mount.TypeVolume && hm.VolumeOptions != nil {
				return Claim{Subdir: subdir, Volume: mp.Name, Subpath: hm.VolumeOptions.Subpath, Ctr: &s}, true
			}
		}
	}
	return Claim{}, false
}

// FromRecords turns the subdirs recorded in a registry into claims: below
// the bind root bindRoot, or in the volume vol.
func FromRecords(subdirs []string, bindRoot, vol, where string) []Claim {
	out := make([]Claim, 0, len(subdirs))
	for _, s := range subdirs {
		c := Claim{Subdir: s, Where: where}
		if bindRoot != "" {
			c.Bind = filepath.Join(bindRoot, filepath.FromSlash(s))
		} else {
			c.Volume, c.Subpath = vol, s
		}
		out = append(out, c)
	}
	return out
}

// A New workspace is checked against the others before it may go on.
type New struct {
	Self Claim
	// Shared is its hold on its shared directory (none when empty).
	Shared Claim
	// SelfID is its container (under its temporary name), or the
	// placeholder that holds its place; "" when it has none.
	SelfID string
	// ForTask: it is prepared for an orchestrator's task on this engine,
	// whose own containers are not a second container of it.
	ForTask bool
	// Devices are the host directories of the engine's local volumes that
	// bind one (by volume name): the workspaces and shared directories of
	// the existing containers in them meet bind mounts there.
	Devices map[string]string
}

// withHost gives a volume claim the host directory its volume binds, if
// it binds one.
func (n New) withHost(c Claim) Claim {
	if dev := n.Devices[c.Volume]; c.Volume != "" && c.Host == "" && dev != "" {
		c.Host = filepath.Join(dev, filepath.FromSlash(c.Subpath))
	}
	return c
}

// NeedsDevices says whether telling the existing containers' claims apart
// needs the host directories of their volumes: some mount a volume, and
// the new workspace has a host directory (bind, or a bind volume).
func NeedsDevices(n New, ctrs []container.Summary) bool {
	if n.Self.hostDir() == "" && n.Shared.hostDir() == "" {
		return false
	}
	for _, c := range ctrs {
		for _, mp := range c.Mounts {
			if mp.Type == mount.TypeVolume && (mp.Destination == sandbox.WorkspaceTarget || mp.Destination == sandbox.SharedTarget) {
				return true
			}
		}
	}
	return false
}

// A Conflict is an existing container that a new workspace may not meet,
// and why; it wins when the engine created it first.
type Conflict struct {
	With *container.Summary
	Err  error
}

// Check decides whether a new workspace may go on: not when a record
// overlaps it (err), nor when an orchestrator runs it or one it nests with
// on this engine (err); the containers that overlap it, whose shared
// directory meets it, or whose workspace meets its shared directory are
// returned: each wins if the engine created it first. A container set
// aside by a replacement (gws_old_…) holds no claim of its own.
func Check(n New, ctrs []container.Summary, records []Claim) ([]Conflict, error) {
	for _, r := range records {
		if Overlaps(n.Self, r) {
			return nil, OverlapError(n.Self, r)
		}
	}
	var out []Conflict
	for i := range ctrs {
		c := &ctrs[i]
		if c.ID == n.SelfID || strings.HasPrefix(trimSlash(FirstName(c)), OldPrefix) {
			continue
		}
		if err := checkTask(n, c); err != nil {
			return nil, err
		}
		if err := conflict(n, c); err != nil {
			out = append(out, Conflict{With: c, Err: err})
		}
	}
	return out, nil
}

// TaskLabels are the labels an orchestrator puts on a task's container
// (Swarm's): its task and its service.
const (
	TaskLabel    = "com.docker.swarm.task.id"
	ServiceLabel = "com.docker.swarm.service.name"
)

// IsTask says whether a container of a list is an orchestrator's task.
func IsTask(c *container.Summary) bool {
	_, task := c.Labels[TaskLabel]
	return task
}

// checkTask refuses a standalone container of a workspace that an
// orchestrator runs on this engine as a task (or of one it nests with):
// two containers of one workspace.
func checkTask(n New, c *container.Summary) error {
	if n.ForTask || !IsTask(c) {
		return nil
	}
	other, ok := OfContainer(c)
	if !ok || !SamePlace(n.Self, other) && !Overlaps(n.Self, other) {
		return nil
	}
	return fmt.Errorf("%w: workspace %q: this engine runs it (or one it nests with: %q) as a task of Swarm service %s (%w); refused",
		sandbox.ErrOverlap, n.Self.Subdir, other.Subdir, c.Labels[ServiceLabel], sandbox.ErrOrchestrated)
}

// conflict is why a new workspace may not meet an existing container, or
// nil.
func conflict(n New, c *container.Summary) error {
	other, ok := OfContainer(c)
	other = n.withHost(other)
	if ok && Overlaps(n.Self, other) {
		return OverlapError(n.Self, other)
	}
	if ok && rootsNest(n.Self, other) {
		return fmt.Errorf("%w: the workspace root %s of workspace %q and the root %s of %s nest: the workspaces of one "+
			"could hold the other's; roots must not nest; nothing was changed", sandbox.ErrOverlap, rootOf(n.Self), n.Self.Subdir, rootOf(other), other)
	}
	if ok && n.Shared.Bind+n.Shared.Volume != "" && meets(other, n.Shared) {
		return sharedMeetError(n.Self, true, other)
	}
	theirs, ok := ofShared(c)
	theirs = n.withHost(theirs)
	switch {
	case !ok:
		return nil
	case meets(n.Self, theirs):
		return sharedMeetError(n.Self, false, theirs)
	case below(n.Shared, theirs) || below(theirs, n.Shared):
		// One shared directory in another: the tenants of the outer one
		// could read the inner one's data and swap it for a symlink, the
		// mount of the other's containers.
		return fmt.Errorf("%w: the shared directory of workspace %q would hold or lie in the shared directory of %s: the tenants of "+
			"the outer one could read and redirect the inner one; share one directory, or two apart; nothing was changed",
			sandbox.ErrOverlap, n.Self.Subdir, theirs)
	}
	return nil
}

// CheckStart refuses to start the container of self while a workspace
// container or a record overlaps it (a pair made before overlaps were
// refused): neither of the two is started.
func CheckStart(self Claim, selfID string, ctrs []container.Summary, records []Claim) error {
	for _, r := range records {
		if Overlaps(self, r) {
			return OverlapError(self, r)
		}
	}
	for i := range ctrs {
		c := &ctrs[i]
		if c.ID == selfID || !strings.HasPrefix(trimSlash(FirstName(c)), sandbox.NamePrefix) {
			continue // a temporary container loses to this one
		}
		if other, ok := OfContainer(c); ok && Overlaps(self, other) {
			return OverlapError(self, other)
		}
	}
	return nil
}

// OverlappingPairs names every pair of workspaces that overlap among the
// containers of a list (and records), for doctor.
func OverlappingPairs(ctrs []container.Summary, records []Claim) []string {
	var claims []Claim
	for i := range ctrs {
		if strings.HasPrefix(trimSlash(FirstName(&ctrs[i])), sandbox.NamePrefix) {
			if c, ok := OfContainer(&ctrs[i]); ok {
				claims = append(claims, c)
			}
		}
	}
	var out []string
	for i, a := range claims {
		for _, b := range claims[i+1:] {
			if Overlaps(a, b) {
				out = append(out, fmt.Sprintf("%s and %s overlap: ensure starts neither; remove one container and move its data out of the other's directory", a, b))
			}
		}
		for _, r := range records {
			if r.Subdir != a.Subdir && Overlaps(a, r) {
				out = append(out, fmt.Sprintf("%s and %s overlap: ensure starts neither; remove the container, move its data, and delete its record in %s", a, r, RegistryPath))
			}
		}
	}
	return out
}

// OverlapError is the refusal of self, which overlaps other.
func OverlapError(self, other Claim) error {
	err := overlapError(self, other)
	if other.Ctr == nil && other.Where != "" && other.Subdir != "" {
		return &sandbox.RecordedError{Subdir: other.Subdir, Err: err}
	}
	return err
}

func overlapError(self, other Claim) error {
	return fmt.Errorf("%w: workspace %q overlaps %s: the directory of one holds the other's, so one container would see the "+
		"other's data; nested workspaces are refused (nesting below a plain directory is fine), nothing was changed",
		sandbox.ErrOverlap, self.Subdir, other)
}

// sharedMeetError is the refusal of self whose shared directory (selfShared)
// or whose workspace meets other's.
func sharedMeetError(self Claim, selfShared bool, other Claim) error {
	if selfShared {
		return fmt.Errorf("%w: the shared directory of workspace %q would be, hold or lie in the directory of %s: that "+
			"workspace's tenant would see the shared data of others, and they its data; nothing was changed",
			sandbox.ErrOverlap, self.Subdir, other)
	}
	return fmt.Errorf("%w: workspace %q would be, hold or lie in the shared directory of %s: every container that shares it would see the workspace; nothing was changed",
		sandbox.ErrOverlap, self.Subdir, other)
}

// FirstName is the first name of a container of a list ("" if none).
func FirstName(c *container.Summary) string {
	if len(c.Names) == 0 {
		return ""
	}
	return c.Names[0]
}

// OldPrefix names a container set aside by a replacement (see the engine's
// temporary containers).
const OldPrefix = "gws_old_"

// Short is an ID cut as docker prints it; a name stays whole.
func Short(id string) string {
	if len(id) == 64 {
		return id[:12]
	}
	return id
}

func trimSlash(name string) string { return strings.TrimPrefix(name, "/") }
