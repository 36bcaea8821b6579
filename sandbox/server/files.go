package server

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/pkg/stdcopy"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
	"github.com/docker-workspace/docker-workspace/sandbox/cpsafe"
)

// Files move in and out through a command that runs as the workspace's
// user: a symbolic link a tenant planted resolves with the tenant's own
// rights inside its own container, so no path trick reaches further than
// the tenant already does. What comes out is made safe (cpsafe); a single
// file goes in whole or not at all.

// The exit codes of the scripts below.
const (
	exitNotFound   = 66
	exitNotRegular = 67
	exitShort      = 68
	exitDenied     = 69
)

const (
	// scriptArchiveOut: $1 a directory, $2 the name in it to archive.
	scriptArchiveOut = `[ -e "$1/$2" ] || [ -L "$1/$2" ] || exit 66; exec tar -c -f - -C "$1" -- "$2"`
	// scriptArchiveIn: $1 the directory to unpack into.
	scriptArchiveIn = `[ -d "$1" ] || exit 66; [ -w "$1" ] || exit 69; exec tar -x -f - -C "$1"`
	// scriptFileOut: $1 a regular file.
	scriptFileOut = `[ -L "$1" ] && exit 67; [ -e "$1" ] || exit 66; [ -f "$1" ] || exit 67; [ -r "$1" ] || exit 69; exec cat -- "$1"`
	// scriptFileIn: $1 the file, $2 its size, $3 its mode: written beside
	// it, then renamed over it, only when whole.
	scriptFileIn = `p=$1 n=$2 m=$3; d=$(dirname -- "$p")
[ -d "$d" ] || exit 66
[ -L "$p" ] && exit 67
if [ -e "$p" ] && [ ! -f "$p" ]; then exit 67; fi
[ -w "$d" ] || exit 69
t=$(mktemp "$d/.docker-workspace-upload.XXXXXX") || exit 69
trap 'rm -f "$t"' EXIT
head -c "$n" > "$t" || exit 1
[ $(wc -c < "$t") -eq "$n" ] || exit 68
chmod "$m" "$t" && mv -f -- "$t" "$p" || exit 1
trap - EXIT`
)

// workspacePath is a path a caller gives, in the workspace directory:
// relative to it, or absolute below it; never with a ".." element. root
// says whether the directory itself will do.
func workspacePath(p string, root bool) (string, error) {
	switch {
	case p == "":
		return "", badRequest("path: a path is needed")
	case strings.ContainsRune(p, 0):
		return "", badRequest("path: a NUL byte")
	case strings.Contains("/"+p+"/", "/../"):
		return "", badRequest("path %q: a \"..\" element", p)
	}
	if !path.IsAbs(p) {
		p = path.Join(sandbox.WorkspaceTarget, p)
	}
	p = path.Clean(p)
	if p == sandbox.WorkspaceTarget {
		if root {
			return p, nil
		}
		return "", badRequest("path %q: the workspace directory itself, not a file", p)
	}
	if !strings.HasPrefix(p, sandbox.WorkspaceTarget+"/") {
		return "", forbidden("path %q: outside the workspace directory %s", p, sandbox.WorkspaceTarget)
	}
	return p, nil
}

// scriptError is what a script's exit code says of p.
func scriptError(code int, stderr, p string) error {
	switch code {
	case exitNotFound:
		return notFound("no such file or directory in the workspace: %s", p)
	case exitNotRegular:
		return badRequest("%s: not a regular file (a symbolic link, a directory, a device…)", p)
	case exitDenied:
		return forbidden("%s: the workspace's user may not do that", p)
	case exitShort:
		return badRequest("%s: the upload ended before its length: nothing was written", p)
	}
	switch msg := strings.TrimSpace(stderr); {
	case strings.Contains(msg, "Permission denied"):
		return forbidden("%s: the workspace's user may not do that (%s)", p, msg)
	case strings.Contains(msg, "tar"):
		return badRequest("%s: the workspace's tar refused the archive: %s", p, msg)
	default:
		return fmt.Errorf("%s: exit code %d: %s", p, code, msg)
	}
}

// archiveOut answers a tar archive of a path of the workspace (as docker
// cp's archive: the path's own name at its top), made safe. What the
// workspace's tar wrote is the tenant's to decide (a process of its user
// can write into it): an entry that would land outside is refused too.
func (s *Server) archiveOut(c *call) error {
	p, err := workspacePath(c.r.URL.Query().Get("path"), true)
	if err != nil {
		return err
	}
	dir, name := path.Split(p)
	return s.download(c, p, "application/x-tar", []string{scriptArchiveOut, path.Clean(dir), name}, func(w io.Writer, r io.Reader) error {
		return cpsafe.Sanitize(r, w, cpsafe.Rules{Check: entryCheck(-1)})
	})
}

// entryCheck refuses an archive entry that would land outside its
// directory (its name, or a hard link's target), a sparse one (a few bytes
// sent, gigabytes written), and entries over limit bytes in all (-1: no
// limit).
func entryCheck(limit int64) func(*tar.Header) error {
	var total int64
	return func(h *tar.Header) error {
		if leaves(h.Name) || (h.Typeflag == tar.TypeLink && leaves(h.Linkname)) {
			return badRequest("archive entry %q: leaves the directory", h.Name)
		}
		if h.Typeflag == tar.TypeGNUSparse || slices.ContainsFunc(slices.Collect(maps.Keys(h.PAXRecords)), func(k string) bool { return strings.HasPrefix(k, "GNU.sparse.") }) {
			return badRequest("archive entry %q: a sparse file (refused: it would be written whole)", h.Name)
		}
		total += max(h.Size, 0)
		if limit >= 0 && total > limit {
			return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Message: fmt.Sprintf("the archive holds more than the server's limit of %d bytes", limit)}
		}
		return nil
	}
}

// leaves says whether an archive's path lands outside its directory.
func leaves(name string) bool {
	n := path.Clean(name)
	return path.IsAbs(name) || n == ".." || strings.HasPrefix(n, "../")
}

// fileOut answers one regular file of the workspace.
func (s *Server) fileOut(c *call) error {
	p, err := workspacePath(c.r.URL.Query().Get("path"), false)
	if err != nil {
		return err
	}
	return s.download(c, p, "application/octet-stream", []string{scriptFileOut, p}, func(w io.Writer, r io.Reader) error {
		_, err := io.Copy(w, r)
		return err
	})
}

// download runs script, and answers its output through copyOut once it
// has begun; a script that fails before it says a word answers its error.
func (s *Server) download(c *call, p, contentType string, script []string, copyOut func(io.Writer, io.Reader) error) error {
	cli, id, err := c.running()
	if err != nil {
		return err
	}
	execID, hj, err := c.startExec(cli, id, api.ExecRequest{Cmd: append([]string{"sh", "-c", script[0], "sh"}, script[1:]...)}, false)
	if err != nil {
		return err
	}
	defer hj.Close()
	pr, pw := io.Pipe()
	stderr := &capped{max: 64 << 10}
	go func() {
		_, err := stdcopy.StdCopy(pw, stderr, hj.Reader)
		_ = pw.CloseWithError(err)
	}()
	br := bufio.NewReaderSize(pr, 64<<10)
	if _, err := br.Peek(1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if br.Buffered() == 0 {
		code, err := c.exitCode(cli, execID)
		if err != nil {
			return err
		}
		if code != 0 {
			return scriptError(code, stderr.buf.String(), p)
		}
	}
	c.begin(contentType)
	if err := copyOut(c.w, br); err != nil {
		return err
	}
	if code, err := c.exitCode(cli, execID); err != nil || code != 0 {
		return errors.Join(err, scriptError(code, stderr.buf.String(), p))
	}
	return nil
}

// archiveIn unpacks a tar archive into a directory of the workspace, as
// its user: made safe first (no device node, fifo, setuid or setgid bit,
// extended attribute; no entry that leaves the directory). An archive is
// unpacked as it comes: one cut short leaves what came.
func (s *Server) archiveIn(c *call) error {
	p, err := workspacePath(c.r.URL.Query().Get("path"), true)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(c.w, io.NopCloser(c.idleBody()), s.o.MaxUpload)
	pr, pw := io.Pipe()
	go func() {
		_ = pw.CloseWithError(cpsafe.Sanitize(body, pw, cpsafe.Rules{Check: entryCheck(s.o.MaxUpload)}))
	}()
	return s.upload(c, p, pr, []string{scriptArchiveIn, p})
}

// fileIn writes one file of the workspace, whole or not at all: its
// length must be known (Content-Length); ?mode= sets its mode (0644).
func (s *Server) fileIn(c *call) error {
	p, err := workspacePath(c.r.URL.Query().Get("path"), false)
	if err != nil {
		return err
	}
	mode := c.r.URL.Query().Get("mode")
	if mode == "" {
		mode = "0644"
	}
	if m, err := strconv.ParseUint(mode, 8, 32); err != nil || m > 0o777 {
		return badRequest("mode %q: an octal mode of 0 to 0777 is needed", mode)
	}
	n := c.r.ContentLength
	switch {
	case n < 0:
		return &api.Error{Status: http.StatusLengthRequired, Code: api.CodeLengthNeeded, Message: "a file is sent with its Content-Length"}
	case n > s.o.MaxUpload:
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Message: fmt.Sprintf("the file is over the server's limit of %d bytes", s.o.MaxUpload)}
	}
	return s.upload(c, p, io.LimitReader(c.idleBody(), n), []string{scriptFileIn, p, strconv.FormatInt(n, 10), mode})
}

// idleBody is the request's body, each read of which must come within 30
// s: an upload that trickles is cut (it holds an exec in the workspace).
func (c *call) idleBody() io.Reader {
	rc := http.NewResponseController(c.w)
	return readerFunc(func(p []byte) (int, error) {
		_ = rc.SetReadDeadline(c.s.o.Now().Add(bodyTimeout))
		return c.r.Body.Read(p)
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// upload runs script with in as its input, and answers where it went.
func (s *Server) upload(c *call, p string, in io.Reader, script []string) error {
	cli, id, err := c.running()
	if err != nil {
		return err
	}
	execID, hj, err := c.startExec(cli, id, api.ExecRequest{Cmd: append([]string{"sh", "-c", script[0], "sh"}, script[1:]...)}, true)
	if err != nil {
		return err
	}
	defer hj.Close()
	stderr := &capped{max: 64 << 10}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(io.Discard, stderr, hj.Reader)
		done <- err
	}()
	_, inErr := io.Copy(hj.Conn, in)
	_ = hj.CloseWrite()
	readErr := <-done
	code, err := c.exitCode(cli, execID)
	if err != nil {
		return err
	}
	var ae *api.Error
	if errors.As(inErr, &ae) || errors.As(inErr, new(*http.MaxBytesError)) {
		return inErr // refused as it came: what came before it is there
	}
	if code != 0 {
		return scriptError(code, stderr.buf.String(), p)
	}
	if err := errors.Join(inErr, readErr); err != nil {
		return err
	}
	c.json(http.StatusOK, map[string]string{"path": p})
	return nil
}
