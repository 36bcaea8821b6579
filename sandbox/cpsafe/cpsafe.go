// Package cpsafe makes the archives that cp (and the server's copy)
// carries between a workspace and anyone else safe: what a tenant put in
// a workspace never lands elsewhere as a setuid binary, a device node or
// another user's file, and what is handed in is the workspace user's.
package cpsafe

import (
	"archive/tar"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Rules say how Sanitize makes an archive safe.
type Rules struct {
	// UID and GID own every entry.
	UID, GID int
	// Warn, when set, is told each change (a path, and why).
	Warn func(name, why string)
	// Check, when set, refuses an entry (Sanitize then fails with its
	// error).
	Check func(h *tar.Header) error
}

// Sanitize copies the archive in to out, made safe to land where a tenant
// does not decide what lands: a tenant (root in its container) decides
// what the archive holds. Device nodes and fifos are left out; setuid and
// setgid bits, and extended attributes (file capabilities among them), are
// dropped; every entry is UID:GID's.
func Sanitize(in io.Reader, out io.Writer, r Rules) error {
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if r.Check != nil {
			if err := r.Check(h); err != nil {
				return err
			}
		}
		if why := sanitizeHeader(h, r.UID, r.GID); why != "" {
			if r.Warn != nil {
				r.Warn(h.Name, why)
			}
			if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock || h.Typeflag == tar.TypeFifo {
				continue
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// sanitizeHeader makes an entry safe, and says what it changed ("": nothing
// worth saying). A device node or a fifo is to be left out.
func sanitizeHeader(h *tar.Header, uid, gid int) string {
	var why []string
	switch h.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		return "a device node: left out"
	case tar.TypeFifo:
		return "a fifo: left out"
	}
	if h.Mode&(0o4000|0o2000) != 0 {
		h.Mode &^= 0o4000 | 0o2000
		why = append(why, "its setuid and setgid bits dropped")
	}
	xattrs := len(h.Xattrs) > 0 //nolint:staticcheck // Xattrs: what older archives carry
	h.Xattrs = nil              //nolint:staticcheck // as above
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") || strings.HasPrefix(k, "LIBARCHIVE.xattr.") {
			delete(h.PAXRecords, k)
			xattrs = true
		}
	}
	if xattrs {
		why = append(why, "its extended attributes (file capabilities among them) dropped")
	}
	h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
	return strings.Join(why, ", ")
}

// OwnedBy is an archive copied into a workspace, its entries given to
// uid:gid (the container's user): what the agent is handed, the agent can
// change (docker cp makes them root's).
func OwnedBy(in io.Reader, uid, gid int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(in), tar.NewWriter(pw)
		var err error
		for {
			var h *tar.Header
			if h, err = tr.Next(); err != nil {
				break
			}
			h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
			if err = tw.WriteHeader(h); err == nil {
				_, err = io.Copy(tw, tr)
			}
			if err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			err = tw.Close()
		}
		_ = pw.CloseWithError(err)
	}()
	return pr
}

// UserIDs resolves a container's user ("name|uid[:group|gid]"; "" is
// root) to numbers, from the container's /etc/passwd and /etc/group as
// read (nil when the file could not be read); ok is false when a name is
// in neither.
func UserIDs(user string, passwd, group []byte) (uid, gid int, ok bool) {
	name, grp, hasGroup := strings.Cut(user, ":")
	if name == "" {
		return 0, 0, true
	}
	field := func(db []byte, key string, col int) (string, bool) {
		for _, l := range strings.Split(string(db), "\n") {
			f := strings.Split(l, ":")
			if len(f) > col && (f[0] == key || f[2] == key) {
				return f[col], true
			}
		}
		return "", false
	}
	var err error
	if uid, err = strconv.Atoi(name); err != nil {
		s, found := field(passwd, name, 2)
		if uid, err = strconv.Atoi(s); !found || err != nil {
			return 0, 0, false
		}
	}
	gidText, found := field(passwd, strconv.Itoa(uid), 3)
	if hasGroup {
		gidText, found = grp, true
		if _, err := strconv.Atoi(grp); err != nil {
			gidText, found = field(group, grp, 2)
		}
	}
	if gid, err = strconv.Atoi(gidText); !found || err != nil {
		gid = 0 // a uid that /etc/passwd does not name runs with group 0
	}
	return uid, gid, true
}
