package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
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
	claim() claims.Claim
	// reserve runs check on the records of the root or volume, and, where
	// the records are on this host, records the new workspace if check
	// passes, under the root's lock (processes that reach the root through
	// different engines do not see each other's containers).
	reserve(ctx context.Context, check func(records []claims.Claim) error) error
	// userDB is the container whose /etc/passwd resolves a user name:
	// newID (the new container itself) or a helper.
	userDB(newID string) string
	// finish makes what is missing (with the record, where reserve did
	// not write it), and gives the workspace's own directories (its
	// directory, a new shared directory) to own.
	finish(ctx context.Context, own hostfs.Owner) error
	// undo removes, after a failure, what this call made where it can.
	undo(ctx context.Context)
	// gone says whether the workspace's directory this call prepared was
	// removed since (by another ensure of it that failed).
	gone() bool
	// close releases what the preparer holds.
	close(ctx context.Context)
}

func (m *Manager) newPreparer(ctx context.Context, subdir string, cfg sandbox.Config, img image.InspectResponse, plan sandbox.MountPlan) (preparer, error) {
	switch plan.Prepare {
	case sandbox.PrepareHere:
		return newLocalPreparer(subdir, cfg, m.limits.Write)
	case sandbox.PrepareHelper:
		return m.newHelperPreparer(ctx, subdir, cfg, img, plan)
	}
	return plainPreparer{subdir: subdir, plan: plan}, nil
}

// localPreparer makes the directories of bind mode on this host.
type localPreparer struct {
	lockLimit     time.Duration
	subdir        string
	root          *hostfs.Root
	ws            *hostfs.Dir
	wsCreated     []string // below the root, first to last
	shared        *hostfs.Dir
	sharedCreated bool
	recorded      bool
}

func newLocalPreparer(subdir string, cfg sandbox.Config, lockLimit time.Duration) (_ *localPreparer, err error) {
	p := &localPreparer{subdir: subdir, lockLimit: lockLimit}
	defer func() {
		if err != nil {
			p.undo(context.Background())
			p.close(context.Background())
		}
	}()
	if p.root, err = hostfs.OpenRoot(cfg.WorkspaceRoot, true); err != nil {
		return nil, err
	}
	// A recorded workspace above or below: refused before anything is made.
	recs, err := p.records(context.Background())
	if err != nil {
		return nil, err
	}
	self := claims.Claim{Subdir: subdir, Bind: filepath.Join(p.root.Path, filepath.FromSlash(subdir))}
	for _, r := range recs {
		if claims.Overlaps(self, r) {
			return nil, claims.OverlapError(self, r)
		}
	}
	if err := checkSharedDir(cfg.SharedDir, p.root.Path); err != nil {
		return nil, err
	}
	// A missing shared directory is made only where nobody else can write
	// (as on an engine's host): in /tmp another user could make it first,
	// or move it once it is the container user's. Looked at again, through
	// descriptors, when it is given away (finish).
	if _, err := os.Lstat(cfg.SharedDir); errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(filepath.Clean(cfg.SharedDir))
		if fi, err := os.Stat(parent); err == nil && fi.Mode().Perm()&0o022 != 0 {
			return nil, fmt.Errorf("shared directory %s does not exist, and %s can be written by others, who could "+
				"make it first or move it: make it there yourself, or put it elsewhere: refused", cfg.SharedDir, parent)
		}
	}
	if p.shared, p.sharedCreated, err = hostfs.MkdirAllSafe(cfg.SharedDir, "shared directory", 0o700); err != nil {
		return nil, err
	}
	if sandbox.PathsOverlap(p.shared.Path, p.root.Path) {
		return nil, sandbox.SharedOverlapError(cfg.SharedDir, p.shared.Path, p.root.Path)
	}
	if p.shared.Path != filepath.Clean(cfg.SharedDir) {
		return nil, hostfs.SharedSymlinkError(cfg.SharedDir, p.shared.Path)
	}
	if err := sharedNotInRoot(p.shared.Path); err != nil {
		return nil, err
	}
	if p.ws, p.wsCreated, err = p.root.WorkspaceDir(subdir, true); err != nil {
		return nil, err
	}
	return p, nil
}

// checkSharedDir refuses, before anything is made, a shared directory of
// this host that overlaps the root, is or lies in another root of
// workspaces, goes through a symlink or can be reached by other users.
func checkSharedDir(shared, root string) error {
	if real, err := hostfs.OpenSafePath(shared, "shared directory"); err == nil {
		real.Close()
		if sandbox.PathsOverlap(real.Path, root) {
			return sandbox.SharedOverlapError(shared, real.Path, root)
		}
	}
	if err := sharedNotInRoot(filepath.Clean(shared)); err != nil {
		return err
	}
	return hostfs.CheckSharedPath(shared)
}

// sharedNotInRoot refuses a shared directory that is, or lies in, the root
// of workspaces.
func sharedNotInRoot(shared string) error {
	if dir := hostfs.RootHolding(shared); dir == shared {
		return hostfs.SharedIsRootError(dir)
	} else if dir != "" {
		return hostfs.SharedInRootError(shared, dir)
	}
	return nil
}

func (p *localPreparer) mounts() []mount.Mount {
	return sandbox.BindMounts(p.ws.Path, p.shared.Path, false)
}

func (p *localPreparer) claim() claims.Claim { return claims.Claim{Subdir: p.subdir, Bind: p.ws.Path} }

func (p *localPreparer) reserve(ctx context.Context, check func([]claims.Claim) error) error {
	unlock, err := p.root.Lock(ctx, p.lockLimit)
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
	if p.recorded, err = p.root.Record(p.subdir); err != nil {
		return fmt.Errorf("record workspace %q: %w", p.subdir, err)
	}
	return nil
}

func (p *localPreparer) records(context.Context) ([]claims.Claim, error) {
	subdirs, err := p.root.Records()
	if err != nil {
		return nil, err
	}
	return claims.FromRecords(subdirs, p.root.Path, "", p.root.Path), nil
}

func (p *localPreparer) userDB(newID string) string { return newID }

func (p *localPreparer) finish(_ context.Context, own hostfs.Owner) error {
	leafCreated := len(p.wsCreated) > 0 && p.wsCreated[len(p.wsCreated)-1] == p.subdir
	if err := p.ws.Own(own, leafCreated); err != nil {
		return err
	}
	return p.shared.OwnInPrivateParent(own, p.sharedCreated)
}

// undo removes the workspace's directory if this call made it (and it is
// still empty), and its record, and the root's marker if this call made
// it (and the root if empty); parents it made stay: another workspace
// made at the same moment may be using one as its own.
func (p *localPreparer) undo(context.Context) {
	if p.root == nil {
		return
	}
	if n := len(p.wsCreated); n > 0 && p.wsCreated[n-1] == p.subdir {
		p.root.RemoveCreated(p.wsCreated[n-1:])
	}
	p.wsCreated = nil
	if p.recorded {
		p.root.Unrecord(p.subdir)
		p.recorded = false
	}
	p.root.Unmark()
	// The shared directory stays: another ensure may be about to mount it,
	// and removing it by name would open its place to whoever can write
	// its parent.
}

func (p *localPreparer) gone() bool { return p.ws != nil && p.ws.Removed() }

func (p *localPreparer) close(context.Context) {
	for _, d := range []*hostfs.Dir{p.ws, p.shared} {
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
	plan   sandbox.MountPlan
}

func (p plainPreparer) mounts() []mount.Mount { return p.plan.Mounts }

func (p plainPreparer) claim() claims.Claim {
	return claims.Claim{Subdir: p.subdir, Bind: p.plan.Mounts[0].Source}
}

func (plainPreparer) reserve(_ context.Context, check func([]claims.Claim) error) error {
	return check(nil)
}
func (plainPreparer) userDB(newID string) string                 { return newID }
func (plainPreparer) finish(context.Context, hostfs.Owner) error { return nil }
func (plainPreparer) undo(context.Context)                       {}
func (plainPreparer) gone() bool                                 { return false }
func (plainPreparer) close(context.Context)                      {}
