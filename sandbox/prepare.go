package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
)

// A preparer gets the mounts of a new workspace container ready, in one of
// three ways: on this host through file descriptors (bind mode, local
// engine: localPreparer); through a helper container on the engine's side
// (volume_subpath mode, and bind mode on a remote engine: helperPreparer);
// not at all (bind mode on a remote engine older than API 1.42, which can
// neither make a directory nor bind a missing one: the directories must
// exist).
type preparer interface {
	// mounts are the new container's workspace and shared mounts.
	mounts() []mount.Mount
	// claim is the new workspace's hold, for the overlap check.
	claim() claim
	// reserve runs check on the records of the root or volume, and, where
	// the records are on this host, records the new workspace if check
	// passes, under the root's lock (processes that reach the root through
	// different engines do not see each other's containers).
	reserve(ctx context.Context, check func(records []claim) error) error
	// userDB is the container whose /etc/passwd resolves a user name:
	// newID (the new container itself) or a helper.
	userDB(newID string) string
	// finish makes what is missing (with the record, where reserve did
	// not write it), and gives the workspace's own directories (its
	// directory, a new shared directory) to own.
	finish(ctx context.Context, own owner) error
	// undo removes, after a failure, what this call made where it can.
	undo(ctx context.Context)
	// gone says whether the workspace's directory this call prepared was
	// removed since (by another ensure of it that failed).
	gone() bool
	// close releases what the preparer holds.
	close(ctx context.Context)
}

func (m *Manager) newPreparer(ctx context.Context, subdir string, cfg Config, img image.InspectResponse, plan MountPlan) (preparer, error) {
	switch plan.Prepare {
	case PrepareHere:
		return newLocalPreparer(subdir, cfg, boundedClient{m: m}.write())
	case PrepareHelper:
		return m.newHelperPreparer(ctx, subdir, cfg, img, plan)
	}
	return plainPreparer{subdir: subdir, plan: plan}, nil
}

// bindMounts are the mounts of bind mode.
func bindMounts(workspace, shared string, create bool) []mount.Mount {
	var opts *mount.BindOptions
	if create {
		// The directories are made (checked) before the start; the
		// container is created before that.
		opts = &mount.BindOptions{CreateMountpoint: true}
	}
	return []mount.Mount{
		{Type: mount.TypeBind, Source: workspace, Target: WorkspaceTarget, BindOptions: opts},
		{Type: mount.TypeBind, Source: shared, Target: SharedTarget, BindOptions: opts},
	}
}

// localPreparer makes the directories of bind mode on this host.
type localPreparer struct {
	lockLimit     time.Duration
	subdir        string
	root          *localRoot
	ws            *hostDir
	wsCreated     []string // below the root, first to last
	shared        *hostDir
	sharedCreated bool
	recorded      bool
}

func newLocalPreparer(subdir string, cfg Config, lockLimit time.Duration) (_ *localPreparer, err error) {
	p := &localPreparer{subdir: subdir, lockLimit: lockLimit}
	defer func() {
		if err != nil {
			p.undo(context.Background())
			p.close(context.Background())
		}
	}()
	if p.root, err = openLocalRoot(cfg.WorkspaceRoot, true); err != nil {
		return nil, err
	}
	// A recorded workspace above or below: refused before anything is made.
	recs, err := p.records(context.Background())
	if err != nil {
		return nil, err
	}
	self := claim{subdir: subdir, bind: filepath.Join(p.root.path, filepath.FromSlash(subdir))}
	for _, r := range recs {
		if overlaps(self, r) {
			return nil, overlapError(self, r)
		}
	}
	if real, err := openSafePath(cfg.SharedDir, "shared directory"); err == nil {
		real.Close()
		if overlapPaths(real.path, p.root.path) {
			return nil, sharedOverlapError(cfg.SharedDir, real.path, p.root.path)
		}
	}
	if dir := rootHolding(filepath.Clean(cfg.SharedDir)); dir == filepath.Clean(cfg.SharedDir) {
		return nil, sharedIsRootError(dir)
	} else if dir != "" {
		return nil, sharedInRootError(cfg.SharedDir, dir)
	}
	if err := checkSharedPath(cfg.SharedDir); err != nil {
		return nil, err
	}
	// A missing shared directory is made only where nobody else can write
	// (as on an engine's host): in /tmp another user could make it first,
	// or move it once it is the container user's. Looked at again, through
	// descriptors, when it is given away (finish).
	if _, err := os.Lstat(cfg.SharedDir); errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(filepath.Clean(cfg.SharedDir))
		if fi, err := os.Stat(parent); err == nil && fi.Mode().Perm()&0o022 != 0 {
			return nil, fmt.Errorf("shared directory %s does not exist, and %s can be written by others, who could make it first or move it: make it there yourself, or put it elsewhere: refused", cfg.SharedDir, parent)
		}
	}
	if p.shared, p.sharedCreated, err = mkdirAllSafe(cfg.SharedDir, "shared directory", 0o700); err != nil {
		return nil, err
	}
	if overlapPaths(p.shared.path, p.root.path) {
		return nil, sharedOverlapError(cfg.SharedDir, p.shared.path, p.root.path)
	}
	if p.shared.path != filepath.Clean(cfg.SharedDir) {
		return nil, sharedSymlinkError(cfg.SharedDir, p.shared.path)
	}
	if dir := rootHolding(p.shared.path); dir == p.shared.path {
		return nil, sharedIsRootError(dir)
	} else if dir != "" {
		return nil, sharedInRootError(p.shared.path, dir)
	}
	if p.ws, p.wsCreated, err = p.root.workspaceDir(subdir, true); err != nil {
		return nil, err
	}
	return p, nil
}

// overlapPaths says whether one of two clean absolute paths is the other or
// below it.
func overlapPaths(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") || a == "/" || b == "/"
}

func sharedOverlapError(given, real, root string) error {
	if given != real {
		given += " (" + real + ")"
	}
	return fmt.Errorf("the shared directory %s overlaps the workspace root %s: every workspace container would see the shared directory, so the shared directory must be neither the root, nor in it, nor above it (nothing was changed)", given, root)
}

// checkSharedPath refuses, before anything is made, a shared directory
// whose path goes through a symlink, or that other local users can reach.
//
// A symlink: every workspace container can write its shared directory, as
// host root (root in the container), so a symlink on the path of another
// configuration's shared directory may be a tenant's, even one owned by
// root; the shared directory is named by its real path.
//
// Reach: a tenant, root in its container, can give the shared directory any
// mode and leave a setuid program in it; only a directory on its path that
// others cannot enter (root's or the caller's, no group or other search)
// keeps other local users from running it (the root of the workspaces is
// such a directory, 0700).
func checkSharedPath(shared string) error {
	clean := filepath.Clean(shared)
	for p := clean; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
				return sharedSymlinkError(shared, real+strings.TrimPrefix(clean, p))
			}
			break
		}
		if p == "/" {
			break
		}
	}
	if privateAncestor(clean) == "" {
		return fmt.Errorf("shared directory %s: every directory above it can be entered by other local users, and a tenant, root in its container, can leave a setuid program in the shared directory for them to run: put it below a directory that only root (or you) can enter (mode 0700), or make one on its path so: refused",
			shared)
	}
	return nil
}

// privateAncestor is the first directory above p that other local users
// cannot enter (root's or the caller's, without group or other search), or
// "".
func privateAncestor(p string) string {
	euid := os.Geteuid()
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && fi.Mode().Perm()&0o011 == 0 {
			if uid, ok := fileOwner(fi); ok && (uid == 0 || uid == euid) {
				return dir
			}
		}
		if dir == "/" {
			return ""
		}
	}
}

func sharedSymlinkError(given, real string) error {
	return fmt.Errorf("shared directory %s is %s: its path goes through a symlink, which may be a tenant's (every workspace container can write its shared directory); give its real path: refused", given, real)
}

// sharedIsRootError: every workspace container can write the shared
// directory, so the marker may be a tenant's doing.
func sharedIsRootError(shared string) error {
	return fmt.Errorf("the shared directory %s holds %s: it is the root of workspaces, which every workspace container would see; refused (every workspace container can write the shared directory: if a tenant made %s there, remove it)", shared, RegistryDir, RegistryDir)
}

func sharedInRootError(shared, root string) error {
	return fmt.Errorf("the shared directory %s is in %s, the root of other workspaces: every workspace of that root would see it; refused", shared, root)
}

func (p *localPreparer) mounts() []mount.Mount {
	return bindMounts(p.ws.path, p.shared.path, false)
}

func (p *localPreparer) claim() claim { return claim{subdir: p.subdir, bind: p.ws.path} }

func (p *localPreparer) reserve(ctx context.Context, check func([]claim) error) error {
	unlock, err := p.root.lock(ctx, p.lockLimit)
	if err != nil {
		return err
	}
	defer unlock()
	records, err := p.records(ctx)
	if err == nil {
		err = check(records)
	}
	if err != nil {
		return err
	}
	if p.recorded, err = p.root.record(p.subdir); err != nil {
		return fmt.Errorf("record workspace %q: %w", p.subdir, err)
	}
	return nil
}

func (p *localPreparer) records(context.Context) ([]claim, error) {
	subdirs, err := p.root.records()
	if err != nil {
		return nil, err
	}
	return recordClaims(subdirs, p.root.path, "", p.root.path), nil
}

func (p *localPreparer) userDB(newID string) string { return newID }

func (p *localPreparer) finish(_ context.Context, own owner) error {
	leafCreated := len(p.wsCreated) > 0 && p.wsCreated[len(p.wsCreated)-1] == p.subdir
	if err := p.ws.own(own, leafCreated); err != nil {
		return err
	}
	return p.shared.ownInPrivateParent(own, p.sharedCreated)
}

// undo removes the workspace's directory if this call made it (and it is
// still empty), and its record; parents it made stay: another workspace
// made at the same moment may be using one as its own.
func (p *localPreparer) undo(context.Context) {
	if p.root == nil {
		return
	}
	if n := len(p.wsCreated); n > 0 && p.wsCreated[n-1] == p.subdir {
		p.root.removeCreated(p.wsCreated[n-1:])
	}
	p.wsCreated = nil
	if p.recorded {
		p.root.unrecord(p.subdir)
		p.recorded = false
	}
	// The shared directory stays: another ensure may be about to mount it,
	// and removing it by name would open its place to whoever can write
	// its parent.
}

func (p *localPreparer) gone() bool { return p.ws != nil && p.ws.removed() }

func (p *localPreparer) close(context.Context) {
	for _, d := range []*hostDir{p.ws, p.shared} {
		_ = d.Close()
	}
	if p.root != nil {
		_ = p.root.Close()
	}
}

// plainPreparer: the directories of a remote engine older than API 1.42,
// which can neither make them nor be asked to; they must exist.
type plainPreparer struct {
	subdir string
	plan   MountPlan
}

func (p plainPreparer) mounts() []mount.Mount { return p.plan.Mounts }

func (p plainPreparer) claim() claim {
	return claim{subdir: p.subdir, bind: p.plan.Mounts[0].Source}
}

func (plainPreparer) reserve(_ context.Context, check func([]claim) error) error {
	return check(nil)
}
func (plainPreparer) userDB(newID string) string          { return newID }
func (plainPreparer) finish(context.Context, owner) error { return nil }
func (plainPreparer) undo(context.Context)                {}
func (plainPreparer) gone() bool                          { return false }
func (plainPreparer) close(context.Context)               {}
