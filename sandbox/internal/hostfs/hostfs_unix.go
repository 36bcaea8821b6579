//go:build unix

package hostfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// Package hostfs holds what is done to the files of a local engine's host
// (bind mode, CreateHostDirs). Nothing below a workspace root is ever
// reached by name: every directory is opened from its parent's file
// descriptor without following a symlink (O_NOFOLLOW on each element, as
// moby's safepath and Kubernetes' safe-open do), created with mkdirat and
// given to the container user with fchown on the descriptor.
//
// What remains is the window between these checks and the engine's own
// mount, which resolves the path by name. It is closed by construction:
//   - the root and every directory above it and between it and a workspace
//     are owned by root or by the calling user and are not writable by
//     anyone else (checked here; refused otherwise), so no other local user
//     can rename, replace or add a path element;
//   - workspaces never overlap (see overlap.go): no workspace directory is
//     an ancestor of another's, and the shared directory is none of them, so
//     no workspace container sees any path element of another workspace —
//     the only directory of the path that a tenant can write is its own
//     workspace directory, which is the mount's root and which it cannot
//     rename from inside;
//   - the registry (sandbox.RegistryDir) lives in the root, which no container sees.

// Dir is a directory of the engine's host, open as a descriptor.
type Dir struct {
	f    *os.File
	Path string // for messages, and for the engine: the real path
}

// Close closes the directory (nil: nothing).
func (d *Dir) Close() error {
	if d == nil || d.f == nil {
		return nil
	}
	return d.f.Close()
}

func (d *Dir) fd() int { return int(d.f.Fd()) }

// openat opens the directory elem of dir without following a symlink, and
// says why not in a person's words.
func openat(dirfd int, dirPath, elem string) (*Dir, error) {
	p := filepath.Join(dirPath, elem)
	fd, err := unix.Openat(dirfd, elem, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		return &Dir{f: os.NewFile(uintptr(fd), p), Path: p}, nil
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, elem, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, fmt.Errorf("%s is a symlink: %w", p, ErrSymlink)
		}
		return nil, fmt.Errorf("%s is not a directory", p)
	}
	return nil, &os.PathError{Op: "open", Path: p, Err: err}
}

// ErrSymlink is wrapped by the error of a path that holds a symlink where
// none is trusted.
var ErrSymlink = errors.New("symlinks are never followed below a workspace root")

// mkdirat creates the directory elem of dir (0755, whatever the umask) and
// opens it; created is false when it existed already. A directory that a
// racer swapped in between is not ours: it is refused, never changed.
func mkdirat(dir *Dir, elem string) (d *Dir, created bool, err error) {
	return mkdiratMode(dir, elem, 0o755)
}

func mkdiratMode(dir *Dir, elem string, mode uint32) (d *Dir, created bool, err error) {
	err = unix.Mkdirat(dir.fd(), elem, 0o700)
	switch {
	case err == nil:
		created = true
	case errors.Is(err, unix.EEXIST):
	default:
		return nil, false, &os.PathError{Op: "mkdir", Path: filepath.Join(dir.Path, elem), Err: err}
	}
	if d, err = openat(dir.fd(), dir.Path, elem); err != nil {
		return nil, false, err
	}
	if created {
		// Made 0700: nobody else could enter it before it was checked.
		st, err := d.Stat()
		if err == nil && int(st.Uid) != os.Geteuid() {
			err = fmt.Errorf("%s changed under us (owned by uid %d): refused", d.Path, st.Uid)
		}
		if err == nil {
			err = unix.Fchmod(d.fd(), mode)
		}
		if err != nil {
			d.Close()
			return nil, false, err
		}
	}
	return d, created, nil
}

// Stat stats the directory through its descriptor.
func (d *Dir) Stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(d.fd(), &st)
	if err != nil {
		err = &os.PathError{Op: "stat", Path: d.Path, Err: err}
	}
	return st, err
}

// checkNotWritableByOthers refuses a directory that someone other than root
// and the calling user could change: whoever can write a directory on the
// path of a workspace can redirect the engine's mount.
func (d *Dir) checkNotWritableByOthers(what string) error {
	st, err := d.Stat()
	if err != nil {
		return err
	}
	return notWritableByOthers(d.Path, what, st, false)
}

func notWritableByOthers(path, what string, st unix.Stat_t, stickyOK bool) error {
	euid := uint32(os.Geteuid())
	if st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%s %s is owned by uid %d: whoever owns a directory on the path of a workspace can redirect it; make it owned by root (or uid %d): refused",
			what, path, st.Uid, euid)
	}
	if st.Mode&0o022 != 0 && !(stickyOK && st.Mode&unix.S_ISVTX != 0) {
		return fmt.Errorf("%s %s is writable by its group or by others (mode %04o): whoever can write a directory on the path of a workspace can redirect it; chmod go-w it: refused",
			what, path, st.Mode&0o7777)
	}
	return nil
}

// OpenSafePath opens an absolute directory path, element by element from
// "/", refusing what someone other than root and the calling user could
// change: a directory on the way that others can write (a sticky one such as
// /tmp is fine when the entry below it is root's or ours), a symlink that is
// not root's or ours. A symlink that passes is followed (the path is the
// administrator's choice; /var/run is one), its target checked the same way.
func OpenSafePath(p, what string) (*Dir, error) {
	d, _, err := walkSafe(p, what, false, 0)
	return d, err
}

// MkdirAllSafe is OpenSafePath that makes what is missing, 0755 (mode for p
// itself), owned by the calling user; created is true when p itself was made
// here.
func MkdirAllSafe(p, what string, mode uint32) (d *Dir, created bool, err error) {
	return walkSafe(p, what, true, mode)
}

// maxSymlinks bounds the symlinks a path may go through, as the kernel does.
const maxSymlinks = 40

func walkSafe(p, what string, create bool, mode uint32) (*Dir, bool, error) {
	if !filepath.IsAbs(p) {
		return nil, false, fmt.Errorf("%s %s: not an absolute path", what, p)
	}
	root, err := openFSRoot()
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", what, p, err)
	}
	w := &walker{cur: root, queue: strings.Split(p, "/"), create: create, mode: mode, euid: uint32(os.Geteuid())}
	for len(w.queue) > 0 {
		if err := w.step(); err != nil {
			w.cur.Close()
			return nil, false, fmt.Errorf("%s %s: %w", what, p, err)
		}
	}
	return w.cur, w.created, nil
}

// openFSRoot opens "/".
func openFSRoot() (*Dir, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), "/"), Path: "/"}, nil
}

// walker walks a path element by element from an open directory (see
// walkSafe); cur is where it stands, queue what is left to walk.
type walker struct {
	cur     *Dir
	queue   []string
	hops    int // symlinks followed
	create  bool
	mode    uint32
	created bool // the last element was made
	euid    uint32
}

// moveTo stands the walker in next.
func (w *walker) moveTo(next *Dir) {
	w.cur.Close()
	w.cur = next
}

// step walks the next element: into a directory that nobody else could
// change, through a symlink of root's or the caller's, or, with create, a
// missing directory made.
func (w *walker) step() error {
	elem := w.queue[0]
	w.queue = w.queue[1:]
	if elem == "" || elem == "." {
		return nil
	}
	dirSt, err := w.cur.Stat()
	if err == nil {
		err = notWritableByOthers(w.cur.Path, "directory", dirSt, true)
	}
	if err != nil {
		return err
	}
	othersWrite := dirSt.Mode&0o022 != 0 // sticky, else refused above
	if elem == ".." {
		next, err := openat(w.cur.fd(), w.cur.Path, "..")
		if err != nil {
			return err
		}
		next.Path = filepath.Dir(w.cur.Path)
		w.moveTo(next)
		return nil
	}
	var st unix.Stat_t
	err = unix.Fstatat(w.cur.fd(), elem, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT) && w.create:
		return w.make(elem, othersWrite)
	case err != nil:
		return &os.PathError{Op: "stat", Path: filepath.Join(w.cur.Path, elem), Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return w.follow(elem, st)
	}
	return w.enter(elem, st, othersWrite)
}

// make makes the missing directory elem (mode for the last element, 0755
// for the others) and enters it.
func (w *walker) make(elem string, othersWrite bool) error {
	last := len(w.queue) == 0
	m := uint32(0o755)
	if last {
		m = w.mode
	}
	next, made, err := mkdiratMode(w.cur, elem, m)
	if err != nil {
		return err
	}
	if err := next.checkEntry(othersWrite, w.cur.Path); err != nil {
		next.Close()
		return err
	}
	w.created = made && last
	w.moveTo(next)
	return nil
}

// follow puts the target of the symlink elem (st) in front of what is left
// to walk: only a symlink of root's or the caller's, and not more than the
// kernel would follow.
func (w *walker) follow(elem string, st unix.Stat_t) error {
	lp := filepath.Join(w.cur.Path, elem)
	if st.Uid != 0 && st.Uid != w.euid {
		return fmt.Errorf("%s is a symlink owned by uid %d: whoever owns a symlink on the path can redirect it; refused", lp, st.Uid)
	}
	if w.hops++; w.hops > maxSymlinks {
		return fmt.Errorf("%s: too many symlinks", lp)
	}
	target, err := readlinkat(w.cur.fd(), elem)
	if err != nil {
		return &os.PathError{Op: "readlink", Path: lp, Err: err}
	}
	w.queue = append(strings.Split(target, "/"), w.queue...)
	if filepath.IsAbs(target) {
		root, err := openFSRoot()
		if err != nil {
			return err
		}
		w.moveTo(root)
	}
	return nil
}

// enter opens the directory elem, which must be the one looked at (st).
func (w *walker) enter(elem string, st unix.Stat_t, othersWrite bool) error {
	next, err := openat(w.cur.fd(), w.cur.Path, elem)
	if err != nil {
		return err
	}
	if nst, err := next.Stat(); err != nil || nst.Dev != st.Dev || nst.Ino != st.Ino {
		next.Close()
		return fmt.Errorf("%s changed while it was looked at: refused", next.Path)
	}
	if err := next.checkEntry(othersWrite, w.cur.Path); err != nil {
		next.Close()
		return err
	}
	w.moveTo(next)
	return nil
}

// checkEntry refuses a directory that sits in a (sticky) directory others
// can write and is not root's or ours: its Owner could replace it.
func (d *Dir) checkEntry(othersWrite bool, parent string) error {
	if !othersWrite {
		return nil
	}
	st, err := d.Stat()
	if err != nil {
		return err
	}
	if st.Uid != 0 && st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("%s is owned by uid %d in %s, which others can write: they could replace it; refused", d.Path, st.Uid, parent)
	}
	return nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// OwnInPrivateParent is own for a directory given away outside a workspace
// root (the shared directory): its Owner could rename it, so its parent must
// be one that nobody else can write, or another local user could put a
// symlink in its place after the Owner moved it.
func (d *Dir) OwnInPrivateParent(o Owner, created bool) error {
	if o.Set && o.UID != 0 && o.UID != os.Geteuid() {
		parent := filepath.Dir(d.Path)
		var st unix.Stat_t
		if err := unix.Lstat(parent, &st); err != nil {
			return &os.PathError{Op: "stat", Path: parent, Err: err}
		}
		if err := notWritableByOthers(parent, "parent of the shared directory", st, false); err != nil {
			return fmt.Errorf("the shared directory %s goes to uid %d, who could then move it: %w", d.Path, o.UID, err)
		}
	}
	return d.Own(o, created)
}

// Own gives a directory to the container user, through its descriptor: when
// this call created it, or when it is empty and still the calling user's (a
// workspace directory that an interrupted ensure made and could not give
// away yet). A directory with content keeps its Owner.
func (d *Dir) Own(o Owner, created bool) error {
	if !o.Set {
		return nil
	}
	st, err := d.Stat()
	if err != nil {
		return err
	}
	if int(st.Uid) == o.UID && int(st.Gid) == o.GID {
		return nil
	}
	if !created {
		if int(st.Uid) != os.Geteuid() {
			return nil
		}
		if empty, err := d.empty(); err != nil || !empty {
			return err
		}
	}
	if err := unix.Fchown(d.fd(), o.UID, o.GID); err != nil {
		return fmt.Errorf("give %s to %d:%d: %w", d.Path, o.UID, o.GID, err)
	}
	return nil
}

// Removed says whether the directory was Removed since it was opened.
func (d *Dir) Removed() bool {
	st, err := d.Stat()
	return err == nil && st.Nlink == 0
}

func (d *Dir) empty() (bool, error) {
	dup, err := unix.Dup(d.fd())
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(dup), d.Path)
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

// Root is a workspace root of this host, open.
type Root struct {
	*Dir
	made       bool // the root directory was made by this call
	markerMade bool // its marker (sandbox.RegistryDir) was made by this call
}

// OpenRoot opens (and, with create, makes: 0700, nobody else needs to
// reach it) a workspace root. A root inside another root is refused: the
// workspaces of one could hold those of the other.
func OpenRoot(root string, create bool) (*Root, error) {
	var d *Dir
	var err error
	markerMade, made := false, false
	if create {
		d, made, err = MkdirAllSafe(root, "workspace root", 0o700)
	} else {
		d, err = OpenSafePath(root, "workspace root")
	}
	if err != nil {
		return nil, err
	}
	// Entries of the root are workspaces and their parents: nobody else may
	// add, rename or remove one, not even in a sticky directory.
	if err := d.checkNotWritableByOthers("workspace root"); err != nil {
		d.Close()
		return nil, err
	}
	if create {
		// The root says it is one before it looks around: of two roots made
		// at once, one inside the other, at least one sees the other (it
		// looks above, the other below, after both said so).
		reg, made, err := mkdiratMode(d, sandbox.RegistryDir, 0o700)
		if err != nil {
			d.Close()
			return nil, err
		}
		markerMade = made
		err = markKind(reg, claims.KindBind)
		reg.Close()
		if err != nil {
			if markerMade {
				_ = unix.Unlinkat(d.fd(), sandbox.RegistryDir, unix.AT_REMOVEDIR)
			}
			d.Close()
			return nil, err
		}
	}
	if dir := RootHolding(filepath.Dir(d.Path)); dir != "" {
		if markerMade { // a refused root does not stay one
			if reg, err := openat(d.fd(), d.Path, sandbox.RegistryDir); err == nil {
				_ = unix.Unlinkat(reg.fd(), claims.RegistryKind, 0)
				reg.Close()
			}
			_ = unix.Unlinkat(d.fd(), sandbox.RegistryDir, unix.AT_REMOVEDIR)
		}
		d.Close()
		return nil, fmt.Errorf("workspace root %s is inside %s, the root of other workspaces: roots must not nest; refused", d.Path, dir)
	}
	return &Root{Dir: d, made: made, markerMade: markerMade}, nil
}

// markKind says in a registry what holds its workspaces (kind), or
// refuses one that says another kind: a volume's directory, whose records
// are not this root's.
func markKind(reg *Dir, kind string) error {
	fd, err := unix.Openat(reg.fd(), claims.RegistryKind, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		f := os.NewFile(uintptr(fd), filepath.Join(reg.Path, claims.RegistryKind))
		b, rerr := io.ReadAll(io.LimitReader(f, 64))
		f.Close()
		if rerr != nil {
			return rerr
		}
		return claims.KindConflict(strings.TrimSpace(string(b)), kind, filepath.Dir(reg.Path))
	}
	if !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "open", Path: filepath.Join(reg.Path, claims.RegistryKind), Err: err}
	}
	fd, err = unix.Openat(reg.fd(), claims.RegistryKind, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EEXIST) {
		return markKind(reg, kind) // another ensure wrote it meanwhile
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: filepath.Join(reg.Path, claims.RegistryKind), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(reg.Path, claims.RegistryKind))
	_, err = f.WriteString(kind)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Unmark undoes what OpenRoot made for a call that was refused: the
// root's marker, when this call made it and nothing is recorded in it (and
// nobody holds its lock), then the root itself when this call made it and
// it is empty. A refused root does not stay one: it would refuse every root
// below it. Best effort.
func (r *Root) Unmark() {
	if !r.markerMade {
		return
	}
	reg, err := openat(r.fd(), r.Path, sandbox.RegistryDir)
	if err != nil {
		return
	}
	defer reg.Close()
	lock, err := unix.Openat(reg.fd(), "lock", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	defer unix.Close(lock)
	if unix.Flock(lock, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // another ensure uses the root
	}
	if err := unix.Unlinkat(reg.fd(), claims.RegistryWorkspaces, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return // records: a root now
	}
	_ = unix.Unlinkat(reg.fd(), "lock", 0)
	_ = unix.Unlinkat(reg.fd(), claims.RegistryKind, 0)
	if unix.Unlinkat(r.fd(), sandbox.RegistryDir, unix.AT_REMOVEDIR) != nil {
		return
	}
	r.markerMade = false
	if r.made {
		if parent, err := OpenSafePath(filepath.Dir(r.Path), "workspace root's parent"); err == nil {
			_ = unix.Unlinkat(parent.fd(), filepath.Base(r.Path), unix.AT_REMOVEDIR) // fails unless empty
			parent.Close()
		}
	}
}

// RootHolding is dir or the first of its parents that is the root of
// workspaces (holds sandbox.RegistryDir, as this tool makes it: root's or
// the caller's, writable by nobody else); "" if none is. A marker any
// local user could make (in a sticky /tmp) says nothing.
func RootHolding(dir string) string {
	for ; ; dir = filepath.Dir(dir) {
		if fi, err := os.Lstat(filepath.Join(dir, sandbox.RegistryDir)); err == nil && fi.IsDir() && trustedMarker(fi) {
			return dir
		}
		if dir == "/" {
			return ""
		}
	}
}

// trustedMarker says whether a root's marker is one this tool could have
// made: owned by root or the caller, writable by nobody else.
func trustedMarker(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (st.Uid == 0 || int(st.Uid) == os.Geteuid()) && fi.Mode().Perm()&0o022 == 0
}

// Lock takes the root's lock (flock on sandbox.RegistryDir/lock), which orders the
// checks and records of processes that use the root through different
// engines (whose container lists do not see each other's). It waits at most
// until ctx ends or limit passes: a process stopped while it holds the lock
// (Ctrl-Z) must not stop every other.
func (r *Root) Lock(ctx context.Context, limit time.Duration) (unlock func(), err error) {
	dir, _, err := mkdiratMode(r.Dir, sandbox.RegistryDir, 0o700)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	if err := dir.checkNotWritableByOthers("registry directory"); err != nil {
		return nil, err
	}
	p := filepath.Join(dir.Path, "lock")
	fd, err := unix.Openat(dir.fd(), "lock", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file: refused", p)
	}
	deadline := time.Now().Add(limit)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			unix.Close(fd)
			return nil, &os.PathError{Op: "lock", Path: p, Err: err}
		}
		if time.Now().After(deadline) {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: another ensure has held the lock for more than %s (is one stopped, with Ctrl-Z?)", p, limit)
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// WorkspaceDir walks to the directory of subdir without following a
// symlink, creating what is missing when create is set, and returns it open,
// with the directories this call created (first to last). Every directory
// between the root and the workspace must be as safe as the root.
func (r *Root) WorkspaceDir(subdir string, create bool) (d *Dir, created []string, err error) {
	elems := strings.Split(subdir, "/")
	cur := r.Dir
	defer func() {
		if err != nil {
			if cur != r.Dir {
				cur.Close()
			}
			if create {
				r.RemoveCreated(created)
				created = nil
			}
		}
	}()
	for i, elem := range elems {
		if i > 0 {
			if err := cur.checkNotWritableByOthers("directory"); err != nil {
				return nil, created, err
			}
		}
		var next *Dir
		var made bool
		if create {
			next, made, err = mkdirat(cur, elem)
		} else {
			next, err = openat(cur.fd(), cur.Path, elem)
		}
		if cur != r.Dir {
			cur.Close()
		}
		cur = r.Dir
		if err != nil {
			return nil, created, sandbox.WorkspaceErr(subdir, "prepare", err) // said once, as Ensure says it
		}
		if made {
			created = append(created, strings.Join(elems[:i+1], "/"))
		} else if fi, err := os.Lstat(filepath.Join(next.Path, sandbox.RegistryDir)); err == nil && fi.Mode().IsDir() {
			next.Close()
			return nil, created, fmt.Errorf("workspace %q: %s is the root of other workspaces: roots must not nest; refused", subdir, next.Path)
		}
		cur = next
	}
	return cur, created, nil
}

// RemoveCreated removes, deepest first, the directories that a failed call
// created, as long as they are still empty (unlinkat from the parent's
// descriptor, never by path). Best effort.
func (r *Root) RemoveCreated(created []string) {
	for i := len(created) - 1; i >= 0; i-- {
		rel := created[i]
		parent, elem := ".", rel
		if j := strings.LastIndex(rel, "/"); j >= 0 {
			parent, elem = rel[:j], rel[j+1:]
		}
		pd := r.Dir
		if parent != "." {
			var err error
			if pd, _, err = r.WorkspaceDir(parent, false); err != nil {
				return
			}
		}
		_ = unix.Unlinkat(pd.fd(), elem, unix.AT_REMOVEDIR) // fails (ENOTEMPTY) if anything was put there
		if pd != r.Dir {
			pd.Close()
		}
	}
}

// registry opens the registry directory of the root, creating it when
// create is set; nil without error when it does not exist.
func (r *Root) registry(create bool) (*Dir, error) {
	cur := r.Dir
	for _, elem := range []string{sandbox.RegistryDir, claims.RegistryWorkspaces} {
		var next *Dir
		var err error
		if create {
			next, _, err = mkdiratMode(cur, elem, 0o700)
		} else {
			next, err = openat(cur.fd(), cur.Path, elem)
			if errors.Is(err, os.ErrNotExist) {
				err, next = nil, nil
			}
		}
		if cur != r.Dir {
			cur.Close()
		}
		if err != nil || next == nil {
			return nil, err
		}
		if err := next.checkNotWritableByOthers("registry directory"); err != nil {
			next.Close()
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// Records reads the registry: the subdirs recorded as workspaces.
func (r *Root) Records() ([]string, error) {
	reg, err := r.registry(false)
	if err != nil || reg == nil {
		return nil, err
	}
	defer reg.Close()
	dup, err := unix.Dup(reg.fd())
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), reg.Path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", reg.Path, err)
	}
	var subdirs []string
	for _, name := range names {
		if s := r.readRecord(reg, name); s != "" {
			subdirs = append(subdirs, s)
		}
	}
	return subdirs, nil
}

// Record writes the registry entry of subdir, whole or not at all (written
// aside, then linked into place); created is false when a valid one existed
// already.
func (r *Root) Record(subdir string) (created bool, err error) {
	reg, err := r.registry(true)
	if err != nil {
		return false, err
	}
	defer reg.Close()
	name, content := claims.RecordFor(subdir)
	tmp := name + ".new-" + tempSuffix()
	fd, err := unix.Openat(reg.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return false, &os.PathError{Op: "create", Path: filepath.Join(reg.Path, tmp), Err: err}
	}
	defer unix.Unlinkat(reg.fd(), tmp, 0)
	f := os.NewFile(uintptr(fd), filepath.Join(reg.Path, tmp))
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	err = unix.Linkat(reg.fd(), tmp, reg.fd(), name, 0)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, &os.PathError{Op: "link", Path: filepath.Join(reg.Path, name), Err: err}
	}
	if r.readRecord(reg, name) == subdir {
		return false, nil
	}
	// A record cut short (its writer died): replaced.
	if err := unix.Renameat(reg.fd(), tmp, reg.fd(), name); err != nil {
		return false, &os.PathError{Op: "rename", Path: filepath.Join(reg.Path, name), Err: err}
	}
	return true, nil
}

// readRecord returns the subdir of a record file, "" if it is not one.
func (r *Root) readRecord(reg *Dir, name string) string {
	fd, err := unix.Openat(reg.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return ""
	}
	rf := os.NewFile(uintptr(fd), filepath.Join(reg.Path, name))
	defer rf.Close()
	if st, err := rf.Stat(); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(rf, claims.MaxRecordLen))
	if err != nil {
		return ""
	}
	s, _ := claims.ParseRecord(name, b)
	return s
}

// Unrecord removes the registry entry of subdir (a failed first create).
func (r *Root) Unrecord(subdir string) bool {
	reg, err := r.registry(false)
	if err != nil || reg == nil {
		return false
	}
	defer reg.Close()
	name, _ := claims.RecordFor(subdir)
	return unix.Unlinkat(reg.fd(), name, 0) == nil
}

// fileOwner is the Owner of what fi describes.
func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
