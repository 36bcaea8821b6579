package plugin

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
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
