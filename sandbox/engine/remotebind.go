package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// Bind mode on a remote engine. Nothing of the engine's host can be opened
// from here, so the helper (helper.go) looks at it through the engine: it
// mounts the top-level directories that hold the workspace root and the
// shared directory (/srv of /srv/ws, seen at /host/srv), and every element
// from there down is read as the first header of the archive the engine
// streams for it (the engine reports a symlink as one, without following
// it). The rules are those of this host (hostfs_unix.go):
//
//   - no element is a symlink; every directory above the root and the shared
//     directory is root's and writable by nobody else, or sticky (/tmp);
//   - the root is root's and writable by nobody else;
//   - a missing directory is made only in one that nobody else can write
//     (not straight into /tmp, where another user could make it first);
//   - no directory above the root or the shared directory, nor the shared
//     directory, is the root of other workspaces, and no directory between
//     the root and a workspace is: roots do not nest.

// errSymlinkOnPath: a symlink on the path to a root or a shared directory
// of an engine's host (whose owner cannot be told apart from root's there).
var errSymlinkOnPath = errors.New("no symlink is followed on the way to a workspace root or a shared directory of an engine's host")

// hostPathCheck is what the helper found along a path of the engine's host.
type hostPathCheck struct {
	path     string
	elems    []string
	existing int // elements that exist, from the top
}

// lookHost reads the entry of a path of the engine's host (nil: missing).
func (p *helperPreparer) lookHost(ctx context.Context, hostPath string) (*tar.Header, error) {
	if hdr, ok := p.seen[hostPath]; ok {
		return hdr, nil
	}
	rc, _, err := p.m.client.CopyFromContainer(ctx, p.id, sandbox.InHelper(hostPath))
	var hdr *tar.Header
	switch {
	case cerrdefs.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("look at %s on the engine's host: %w", hostPath, err)
	default:
		hdr, err = tar.NewReader(rc).Next()
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("look at %s on the engine's host: %w", hostPath, err)
		}
	}
	if p.seen == nil {
		p.seen = map[string]*tar.Header{}
	}
	p.seen[hostPath] = hdr
	return hdr, nil
}

// hasMarker says whether a directory of the engine's host is the root of
// workspaces (holds sandbox.RegistryDir).
func (p *helperPreparer) hasMarker(ctx context.Context, hostPath string) (bool, error) {
	_, err := p.m.client.ContainerStatPath(ctx, p.id, path.Join(sandbox.InHelper(hostPath), sandbox.RegistryDir))
	switch {
	case cerrdefs.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look at %s on the engine's host: %w", hostPath, err)
	}
	return true, nil
}

// isRoot says whether a directory of the engine's host is the root of
// workspaces: its marker (sandbox.RegistryDir) is a directory as this tool
// makes it (root's, writable by nobody else: not one a local user made in
// a sticky /tmp), and it records a workspace (a root whose first ensure
// was refused after its record was written has none left: see undo).
func (p *helperPreparer) isRoot(ctx context.Context, hostPath string) (bool, error) {
	rc, _, err := p.m.client.CopyFromContainer(ctx, p.id, path.Join(sandbox.InHelper(hostPath), sandbox.RegistryDir))
	switch {
	case cerrdefs.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look at %s on the engine's host: %w", hostPath, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return false, fmt.Errorf("look at %s on the engine's host: %w", hostPath, err)
	}
	hdr, err := tar.NewReader(bytes.NewReader(b)).Next()
	if err != nil || hdr.Typeflag != tar.TypeDir || hdr.Uid != 0 || hdr.Mode&0o022 != 0 {
		return false, nil //nolint:nilerr // not a marker this tool made
	}
	reg, err := claims.RecordsFromTar(bytes.NewReader(b))
	return err == nil && len(reg.Subdirs) > 0, nil
}

// checkHostPath looks at each element of an absolute path of the engine's
// host, from the top, until one is missing; what names the path in errors.
// Directories above the last element must be root's and writable by nobody
// else unless sticky; last checks the last element if it exists.
func (p *helperPreparer) checkHostPath(ctx context.Context, hostPath, what string, last func(*tar.Header) error) (*hostPathCheck, error) {
	c := &hostPathCheck{path: path.Clean(hostPath)}
	c.elems = strings.Split(strings.TrimPrefix(c.path, "/"), "/")
	for i := range c.elems {
		cur := "/" + strings.Join(c.elems[:i+1], "/")
		hdr, err := p.lookHost(ctx, cur)
		if err != nil {
			return nil, err
		}
		if hdr == nil {
			if i > 0 {
				parent := p.seen["/"+strings.Join(c.elems[:i], "/")]
				if parent.Mode&0o022 != 0 {
					return nil, fmt.Errorf("%s %s does not exist on the engine's host, and %s can be written by "+
						"others, who could make it first: make %s there yourself, root's, mode 0700", what, c.path, path.Dir(cur), cur)
				}
			}
			return c, nil
		}
		switch {
		case hdr.Typeflag == tar.TypeSymlink:
			return nil, fmt.Errorf("%s %s: %s on the engine's host is a symlink: %w", what, c.path, cur, errSymlinkOnPath)
		case hdr.Typeflag != tar.TypeDir:
			return nil, fmt.Errorf("%s %s: %s on the engine's host is not a directory", what, c.path, cur)
		case i == len(c.elems)-1:
			if err := last(hdr); err != nil {
				return nil, err
			}
		case hdr.Uid != 0:
			return nil, fmt.Errorf("%s %s: %s on the engine's host is owned by uid %d: whoever owns a directory above it can redirect it; make it root's: refused", what, c.path, cur, hdr.Uid)
		case hdr.Mode&0o022 != 0 && hdr.Mode&0o1000 == 0:
			return nil, fmt.Errorf("%s %s: %s on the engine's host is writable by its group or by others (mode %04o) "+
				"and not sticky: whoever can write a directory above it can redirect it: refused", what, c.path, cur, hdr.Mode&0o7777)
		}
		c.existing = i + 1
	}
	return c, nil
}

// checkNoRootAbove refuses a path of which an existing directory (from the
// top down to, with self, the path itself) is the root of other workspaces.
func (p *helperPreparer) checkNoRootAbove(ctx context.Context, c *hostPathCheck, what string, self bool) error {
	n := min(c.existing, len(c.elems)-1)
	if self {
		n = c.existing
	}
	for i := range n {
		dir := "/" + strings.Join(c.elems[:i+1], "/")
		if found, err := p.isRoot(ctx, dir); err != nil {
			return err
		} else if found {
			return fmt.Errorf("%s %s is in %s on the engine's host, the root of other workspaces: every workspace of that root would see it: refused", what, c.path, dir)
		}
	}
	return nil
}

// makeHostDirs makes the missing elements of a path of the engine's host in
// one archive: the parents root's (0755), the last one last's.
func (p *helperPreparer) makeHostDirs(ctx context.Context, c *hostPathCheck, leaf hostfs.Owner, leafMode int64, extra func(*tar.Writer, string) error) error {
	base := "/" + strings.Join(c.elems[:c.existing], "/")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for i := c.existing; i < len(c.elems); i++ {
		o, mode := hostfs.Owner{}, int64(0o755)
		if i == len(c.elems)-1 {
			o, mode = leaf, leafMode
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(c.elems[c.existing:i+1], "/") + "/", Mode: mode, Uid: o.UID, Gid: o.GID, ModTime: now}); err != nil {
			return err
		}
	}
	if extra != nil {
		if err := extra(tw, strings.Join(c.elems[c.existing:], "/")); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := p.copyIn(ctx, sandbox.InHelper(base), buf.Bytes()); err != nil {
		return fmt.Errorf("create %s on the engine's host: %w", c.path, err)
	}
	for i := c.existing; i < len(c.elems); i++ {
		delete(p.seen, "/"+strings.Join(c.elems[:i+1], "/"))
	}
	c.existing = len(c.elems)
	return nil
}

// checkRoot looks at the workspace root and everything above it; the root
// is made (or marked as one) only once every check passed (markRoot), so
// that a refused root is not left marked as one (nothing here could remove
// the marker, and it would refuse every root below it).
func (p *helperPreparer) checkRoot(ctx context.Context) error {
	const what = "workspace root"
	c, err := p.checkHostPath(ctx, p.cfg.WorkspaceRoot, what, func(hdr *tar.Header) error {
		switch {
		case hdr.Uid != 0:
			return fmt.Errorf("%s %s on the engine's host is owned by uid %d: whoever owns it can redirect any workspace in it; make it root's: refused", what, p.cfg.WorkspaceRoot, hdr.Uid)
		case hdr.Mode&0o022 != 0:
			return fmt.Errorf("%s %s on the engine's host is writable by its group or by others (mode "+
				"%04o): whoever can write it can redirect any workspace in it: refused", what, p.cfg.WorkspaceRoot, hdr.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := p.checkNoRootAbove(ctx, c, what, false); err != nil {
		return err
	}
	p.root = c
	return nil
}

// markRoot makes the root checked by checkRoot if it is missing, or marks
// it as one (sandbox.RegistryDir); then it looks above for another root
// again, as on this host, so that of two roots made at once, one inside the
// other, one sees the other.
func (p *helperPreparer) markRoot(ctx context.Context) error {
	c := p.root
	if c == nil {
		return nil
	}
	const what = "workspace root"
	if c.existing < len(c.elems) {
		err := p.makeHostDirs(ctx, c, hostfs.Owner{}, 0o700, func(tw *tar.Writer, root string) error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: root + "/" + sandbox.RegistryDir + "/", Mode: 0o700, ModTime: time.Now()})
		})
		if err != nil {
			return err
		}
	} else if found, err := p.hasMarker(ctx, c.path); err != nil {
		return err
	} else if !found {
		marker := &hostPathCheck{path: c.path + "/" + sandbox.RegistryDir, elems: append(c.elems[:len(c.elems):len(c.elems)], sandbox.RegistryDir), existing: len(c.elems)}
		if err := p.makeHostDirs(ctx, marker, hostfs.Owner{}, 0o700, nil); err != nil {
			return err
		}
	}
	return p.checkNoRootAbove(ctx, c, what, false)
}

// lookAtHostElem looks at an element of a workspace's path below the root
// on the engine's host (as the helper sees it): a symlink or a non-directory
// is refused; a parent must be root's and writable by nobody else; none may
// be the root of other workspaces.
func (p *helperPreparer) lookAtHostElem(ctx context.Context, where string, parent bool) (bool, error) {
	hostPath := strings.TrimPrefix(where, sandbox.HelperHostPoint)
	rel := strings.TrimPrefix(strings.TrimPrefix(hostPath, path.Clean(p.cfg.WorkspaceRoot)), "/")
	hdr, err := p.lookHost(ctx, hostPath)
	switch {
	case err != nil:
		return false, err
	case hdr == nil:
		return false, nil
	case hdr.Typeflag == tar.TypeSymlink:
		return false, fmt.Errorf("workspace %q: %s in %s is a symlink: %w", p.subdir, rel, p.where(), hostfs.ErrSymlink)
	case hdr.Typeflag != tar.TypeDir:
		return false, fmt.Errorf("workspace %q: %s in %s is not a directory", p.subdir, rel, p.where())
	case parent && hdr.Uid != 0:
		return false, fmt.Errorf("workspace %q: %s in %s is owned by uid %d: whoever owns a directory on the path of a workspace can redirect it; make it root's: refused", p.subdir, rel, p.where(), hdr.Uid)
	case parent && hdr.Mode&0o022 != 0:
		return false, fmt.Errorf("workspace %q: %s in %s is writable by its group or by others (mode %04o): "+
			"whoever can write a directory on the path of a workspace can redirect it: refused", p.subdir, rel, p.where(), hdr.Mode&0o7777)
	}
	if found, err := p.hasMarker(ctx, hostPath); err != nil {
		return false, err
	} else if found {
		return false, fmt.Errorf("workspace %q: %s in %s is the root of other workspaces: roots must not nest; refused", p.subdir, rel, p.where())
	}
	return true, nil
}

// checkShared looks at the shared directory and everything above it before
// anything is made: a symlink is refused, and so is a shared directory that
// is the root of workspaces or inside one.
func (p *helperPreparer) checkShared(ctx context.Context) (*hostPathCheck, error) {
	const what = "shared directory"
	shared := path.Clean(p.cfg.SharedDir)
	c, err := p.checkHostPath(ctx, shared, what, func(hdr *tar.Header) error {
		// In a directory others can write (sticky: /tmp), only its hostfs.Owner
		// can rename it: it must be root's.
		if parent := p.seen[path.Dir(shared)]; parent != nil && parent.Mode&0o022 != 0 && hdr.Uid != 0 {
			return fmt.Errorf("%s %s on the engine's host is owned by uid %d in %s, which others can write: its "+
				"hostfs.Owner could swap it for a symlink; make it root's, or put it elsewhere: refused", what, shared, hdr.Uid, path.Dir(shared))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := p.checkNoRootAbove(ctx, c, what, false); err != nil {
		return nil, err
	}
	// Some directory above it that other users cannot enter: else they can
	// run what a tenant (root in its container) leaves there setuid.
	if !p.privateAbove(c, false) {
		return nil, fmt.Errorf("%w: %s %s: every directory above it on the engine's host can be entered by other users there, and a tenant, root in its container, can leave "+
			"a setuid program in the shared directory for them to run: put it below a directory of root's that only root can enter (mode 0700): refused", sandbox.ErrInvalidConfig, what, shared)
	}
	if c.existing == len(c.elems) {
		if found, err := p.hasMarker(ctx, shared); err != nil {
			return nil, err
		} else if found {
			return nil, hostfs.SharedIsRootError(shared + " on the engine's host")
		}
	}
	return c, nil
}

// privateAbove says whether a directory of a path looked at (above it, or
// with self the path itself too) is root's and closed to other users.
func (p *helperPreparer) privateAbove(c *hostPathCheck, self bool) bool {
	n := len(c.elems) - 1
	if self {
		n = len(c.elems)
	}
	for i := 0; i < c.existing && i < n; i++ {
		if hdr := p.seen["/"+strings.Join(c.elems[:i+1], "/")]; hdr != nil && hdr.Uid == 0 && hdr.Mode&0o011 == 0 {
			return true
		}
	}
	return false
}

// makeShared makes a missing shared directory, the container user's, mode
// 0700 (a tenant, root in its container, could leave a setuid program in
// it: nobody else on the host may reach it).
func (p *helperPreparer) makeShared(ctx context.Context, c *hostPathCheck, own hostfs.Owner) error {
	if c.existing == len(c.elems) {
		return nil
	}
	return p.makeHostDirs(ctx, c, own, 0o700, nil)
}
