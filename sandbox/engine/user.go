package engine

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// numericOwner parses "uid" and "uid:gid"; named is true for a user given
// by name, which only the image's /etc/passwd can resolve.
func numericOwner(user string) (own hostfs.Owner, named bool) {
	if user == "" {
		return hostfs.Owner{}, false
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return hostfs.Owner{}, true
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			return hostfs.Owner{}, true
		}
	}
	return hostfs.Owner{UID: uid, GID: gid, Set: true}, false
}

// ownerResult is a resolved owner, or why it could not be.
type ownerResult struct {
	own hostfs.Owner
	err error
}

// owner resolves user (of the containers of image imageID) through the
// /etc/passwd and /etc/group of container db: once for the Ensure calls
// that share s (an image's files do not change). A failure is not shared:
// each call that meets one resolves through its own container.
func (m *Manager) owner(ctx context.Context, s *sandbox.Shared, imageID, user, db string) (hostfs.Owner, error) {
	if _, named := numericOwner(user); !named {
		return m.resolveOwner(ctx, db, user)
	}
	made := false
	v, _ := s.Do("owner:"+imageID+":"+user, func() (any, error) {
		made = true
		own, err := m.resolveOwner(ctx, db, user)
		return ownerResult{own, err}, nil
	})
	if r := v.(ownerResult); r.err == nil || made {
		return r.own, r.err
	}
	return m.resolveOwner(ctx, db, user)
}

// resolveOwner resolves the user a container runs as to numbers: through
// the /etc/passwd and /etc/group of the container (of the image) from,
// when it is given by name.
func (m *Manager) resolveOwner(ctx context.Context, from, user string) (hostfs.Owner, error) {
	own, named := numericOwner(user)
	if !named {
		return own, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	own = hostfs.Owner{Set: true}
	var err error
	if own.UID, err = strconv.Atoi(u); err != nil {
		entry, err := m.dbEntry(ctx, from, "/etc/passwd", u)
		if err != nil {
			return hostfs.Owner{}, fmt.Errorf("user %q: %w", user, err)
		}
		if own.UID, err = strconv.Atoi(entry[2]); err != nil {
			return hostfs.Owner{}, fmt.Errorf("user %q: bad uid in /etc/passwd", user)
		}
		if own.GID, err = strconv.Atoi(entry[3]); err != nil {
			return hostfs.Owner{}, fmt.Errorf("user %q: bad gid in /etc/passwd", user)
		}
	} else {
		own.GID = own.UID
	}
	if hasGroup {
		if own.GID, err = strconv.Atoi(g); err != nil {
			entry, err := m.dbEntry(ctx, from, "/etc/group", g)
			if err != nil {
				return hostfs.Owner{}, fmt.Errorf("group %q: %w", g, err)
			}
			if own.GID, err = strconv.Atoi(entry[2]); err != nil {
				return hostfs.Owner{}, fmt.Errorf("group %q: bad gid in /etc/group", g)
			}
		}
	}
	return own, nil
}

// maxDBLine bounds a line of /etc/passwd or /etc/group.
const maxDBLine = 1 << 20

// dbEntry returns the fields of the line for name in a colon-separated
// database file of a (never started) container.
func (m *Manager) dbEntry(ctx context.Context, containerID, file, name string) ([]string, error) {
	return dbFind(ctx, m.client, containerID, file, func(f []string) bool { return len(f) >= 4 && f[0] == name })
}

// dbFind returns the fields of the first line of a colon-separated database
// file of a container that match says is the one.
func dbFind(ctx context.Context, c sandbox.Client, containerID, file string, match func([]string) bool) ([]string, error) {
	rc, _, err := c.CopyFromContainer(ctx, containerID, file)
	if err != nil {
		return nil, fmt.Errorf("read the image's %s: %w", file, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return nil, fmt.Errorf("read the image's %s: %w", file, err)
	}
	sc := bufio.NewScanner(io.LimitReader(tr, 16<<20))
	sc.Buffer(make([]byte, 0, 64<<10), maxDBLine)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); match(fields) {
			return fields, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the image's %s: %w", file, err)
	}
	return nil, fmt.Errorf("not found in the image's %s", file)
}

// loginShell is the login shell of user (none: the user the workspace
// container runs as, its Config.User; none: root), from the container's
// /etc/passwd; "sh" when that does not tell.
func loginShell(ctx context.Context, c sandbox.Client, containerID, user string) (string, error) {
	if user == "" {
		ctr, err := c.ContainerInspect(ctx, containerID)
		if sandbox.Unreachable(err) {
			return "", err // the exec would wait as long: said at once
		}
		if err != nil || ctr.Config == nil {
			return "sh", nil
		}
		user = ctr.Config.User
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" {
		name = "root"
	}
	_, numeric := strconv.Atoi(name)
	entry, err := dbFind(ctx, c, containerID, "/etc/passwd", func(f []string) bool {
		return len(f) >= 7 && (f[0] == name || numeric == nil && f[2] == name)
	})
	if sandbox.Unreachable(err) {
		return "", err
	}
	if err != nil || entry[6] == "" {
		return "sh", nil
	}
	return entry[6], nil
}
