package plugin

import (
	"fmt"
	"io"
	"os"

	"github.com/docker-workspace/docker-workspace/sandbox/cpsafe"
)

// safeArchive is what `cp` takes out of a workspace, made safe to land on
// this host: a tenant (root in its container) decides what the archive
// holds. Device nodes and fifos are left out; setuid and setgid bits, and
// extended attributes (file capabilities among them), are dropped; every
// entry is the caller's. warn says each change (once per kind and path).
func safeArchive(in io.ReadCloser, warn io.Writer) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := cpsafe.Sanitize(in, pw, cpsafe.Rules{UID: os.Getuid(), GID: os.Getgid(), Warn: func(name, why string) {
			_, _ = fmt.Fprintf(warn, "cp: %s: %s\n", name, why)
		}})
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
