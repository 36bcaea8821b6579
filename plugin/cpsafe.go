package plugin

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// safeArchive is what `cp` takes out of a workspace, made safe to land on
// this host: a tenant (root in its container) decides what the archive
// holds. Device nodes and fifos are left out; setuid and setgid bits, and
// extended attributes (file capabilities among them), are dropped; every
// entry is the caller's. warn says each change (once per kind and path).
func safeArchive(in io.ReadCloser, warn io.Writer) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := sanitizeTar(in, pw, warn)
		_ = in.Close()
		_ = pw.CloseWithError(err)
	}()
	return readCloser{Reader: pr, close: func() error { _ = in.Close(); return pr.Close() }}
}

// readCloser closes with close.
type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// sanitizeTar copies the archive in to out as safeArchive says.
func sanitizeTar(in io.Reader, out io.Writer, warn io.Writer) error {
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	uid, gid := os.Getuid(), os.Getgid()
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if why := sanitizeHeader(h, uid, gid); why != "" {
			_, _ = fmt.Fprintf(warn, "cp: %s: %s\n", h.Name, why)
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

// ownedBy is an archive copied into a workspace, its entries given to
// uid:gid (the container's user): what the agent is handed, the agent can
// change (docker cp makes them root's).
func ownedBy(in io.Reader, uid, gid int) io.Reader {
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

// userIDs resolves a container's user ("name|uid[:group|gid]"; "" is
// root) to numbers, from the container's /etc/passwd and /etc/group as
// read (nil when the file could not be read); ok is false when a name is
// in neither.
func userIDs(user string, passwd, group []byte) (uid, gid int, ok bool) {
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
