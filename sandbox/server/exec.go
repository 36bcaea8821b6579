package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

// exec runs a command in the workspace, ensured first (woken when it is
// stopped or paused): buffered, the answer holds its exit code and output;
// with "Upgrade: tcp", streamed over the connection (stdin in, frames
// out), as the engine's attach. The command runs as the workspace's user,
// never privileged.
func (s *Server) exec(c *call) error {
	var req api.ExecRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	stream := upgrade(c.r)
	if err := checkExec(req, stream); err != nil {
		return err
	}
	cli, id, err := c.running()
	if err != nil {
		return err
	}
	if stream {
		return s.execStream(c, cli, id, req)
	}
	return s.execBuffered(c, cli, id, req)
}

// upgrade says whether a request asks for the streamed form.
func upgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "tcp")
}

// checkExec refuses a request the engine would refuse, or misread.
func checkExec(req api.ExecRequest, stream bool) error {
	if len(req.Cmd) == 0 || req.Cmd[0] == "" {
		return badRequest("cmd: a command is needed")
	}
	for _, e := range req.Env {
		if name, _, ok := strings.Cut(e, "="); !ok || name == "" {
			return badRequest("env: %q is not NAME=VALUE", e)
		}
	}
	for _, v := range append(append(append([]string{}, req.Cmd...), req.Env...), req.Workdir) {
		if strings.ContainsRune(v, 0) {
			return badRequest("a NUL byte in cmd, env or workdir")
		}
	}
	switch {
	case req.TTY && !stream:
		return badRequest("tty: only with the streamed form (Upgrade: tcp)")
	case req.Stdin != "" && stream:
		return badRequest("stdin: in the streamed form, the connection is the command's input")
	}
	return nil
}

// running is the call's workspace and the engine of its container: with
// a token that may ensure, ensured (woken when stopped or paused, made when
// missing); without, found, and it must run. A task that is not yet
// running (Swarm) is waited for a while.
func (c *call) running() (EngineClient, string, error) {
	if !c.tok.Allows(api.VerbEnsure) {
		return c.located()
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err := c.ensured()
		if err != nil {
			return nil, "", err
		}
		c.changed = c.changed || res.Action != sandbox.ActionRunning // audited
		ctx, cancel := c.bounded()
		loc, err := c.s.o.Orchestrator.Locate(ctx, sandbox.Workspace{ID: res.ID, Name: res.Name, Subdir: c.subdir, State: string(container.StateRunning)})
		cancel()
		if errors.Is(err, sandbox.ErrNotRunning) && attempt < 8 {
			select {
			case <-c.r.Context().Done():
				return nil, "", c.r.Context().Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		cli, err := c.s.o.Engine(loc)
		return cli, loc.ContainerID, err
	}
}

// located is the running container of the call's workspace, for a token
// that may not ensure it.
func (c *call) located() (EngineClient, string, error) {
	w, err := c.find()
	if err != nil {
		return nil, "", err
	}
	if w.State != string(container.StateRunning) {
		return nil, "", &api.Error{Status: http.StatusConflict, Code: api.CodeConflict,
			Message: fmt.Sprintf("workspace %q is %s: token %q may not ensure (wake) it", c.subdir, w.State, c.tok.Name)}
	}
	ctx, cancel := c.bounded()
	defer cancel()
	loc, err := c.s.o.Orchestrator.Locate(ctx, w)
	if err != nil {
		return nil, "", err
	}
	cli, err := c.s.o.Engine(loc)
	return cli, loc.ContainerID, err
}

// startExec makes the exec and attaches to it (which starts it).
func (c *call) startExec(cli EngineClient, id string, req api.ExecRequest, stdin bool) (string, types.HijackedResponse, error) {
	workdir := sandbox.WorkdirIn(req.Workdir)
	ctx, cancel := c.bounded()
	defer cancel()
	ec, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: req.Cmd, Env: req.Env, WorkingDir: workdir, Tty: req.TTY,
		AttachStdin: stdin, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return "", types.HijackedResponse{}, err
	}
	hj, err := cli.ContainerExecAttach(c.r.Context(), ec.ID, container.ExecAttachOptions{Tty: req.TTY})
	return ec.ID, hj, err
}

// exitCode is an exec's exit code, once the engine has it (its output
// ends a moment before); asked even when the caller has left (a streamed
// connection's request ends with it).
func (c *call) exitCode(cli EngineClient, execID string) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), c.s.o.Timeout)
	defer cancel()
	for i := 0; ; i++ {
		ins, err := cli.ContainerExecInspect(ctx, execID)
		if err != nil {
			return -1, err
		}
		if !ins.Running || i == 50 {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) execBuffered(c *call, cli EngineClient, id string, req api.ExecRequest) error {
	execID, hj, err := c.startExec(cli, id, req, req.Stdin != "")
	if err != nil {
		return err
	}
	defer hj.Close()
	stop := context.AfterFunc(c.r.Context(), hj.Close) // the caller left: stop reading
	defer stop()
	if req.Stdin != "" {
		go func() {
			_, _ = io.Copy(hj.Conn, strings.NewReader(req.Stdin))
			_ = hj.CloseWrite()
		}()
	}
	stdout, stderr := &capped{max: s.o.MaxOutput}, &capped{max: s.o.MaxOutput}
	if _, err := stdcopy.StdCopy(stdout, stderr, hj.Reader); err != nil {
		if c.r.Context().Err() != nil {
			return c.r.Context().Err()
		}
		return fmt.Errorf("read the command's output: %w", err)
	}
	code, err := c.exitCode(cli, execID)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	c.status = http.StatusOK
	return writeExecResult(c.w, code, stdout, stderr)
}

// writeExecResult writes an api.ExecResult as it encodes, a piece at a
// time: output that JSON escapes (control bytes grow sixfold) is never
// held whole a second time.
func writeExecResult(w io.Writer, code int, stdout, stderr *capped) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	_, _ = fmt.Fprintf(bw, `{"exitCode":%d,"stdout":`, code)
	writeJSONString(bw, stdout.buf.Bytes())
	_, _ = bw.WriteString(`,"stderr":`)
	writeJSONString(bw, stderr.buf.Bytes())
	if stdout.cut || stderr.cut {
		_, _ = bw.WriteString(`,"truncated":true`)
	}
	_, _ = bw.WriteString("}\n")
	return bw.Flush()
}

// writeJSONString writes b as a JSON string (a bufio.Writer keeps its
// first error, for Flush to say) (invalid UTF-8 as U+FFFD, as
// encoding/json does), in pieces cut between runes.
func writeJSONString(w *bufio.Writer, b []byte) {
	_ = w.WriteByte('"')
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		for k := 0; k < utf8.UTFMax && n < len(b) && !utf8.RuneStart(b[n]); k++ {
			n-- // not in the middle of a rune
		}
		q, _ := json.Marshal(string(b[:n]))
		_, _ = w.Write(q[1 : len(q)-1])
		b = b[n:]
	}
	_ = w.WriteByte('"')
}

// capped keeps what is written up to max bytes, and says whether more
// came.
type capped struct {
	buf bytes.Buffer
	max int64
	cut bool
}

func (b *capped) Write(p []byte) (int, error) {
	room := b.max - int64(b.buf.Len())
	if room < int64(len(p)) {
		b.cut = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

// slots bound what one token runs at once: its buffered execs (others
// wait their turn, a while, their bodies not yet read) and its streams
// (streamed execs, event streams: refused over the bound). What a token
// can make the server hold is bounded.
type slots struct {
	mu sync.Mutex
	m  map[slotKey]*slot
}

type slotKey struct {
	tok  *Token
	kind string
}

type slot struct {
	run     chan struct{}
	waiting int
}

// The bounds of one token.
const (
	maxBufferedPerToken = 32  // buffered execs that run at once
	maxWaitingPerToken  = 256 // buffered execs that wait for one of them
	maxStreamsPerToken  = 64  // streamed execs, and event streams, at once
	maxSlotWait         = 2 * time.Minute
)

// take takes one of the token's places of a kind, waiting for one
// (buffered execs) or not (streams); it says 429 when there is none.
func (s *slots) take(ctx context.Context, tok *Token, kind string) (func(), error) {
	size, wait := maxStreamsPerToken, false
	if kind == "buffered" {
		size, wait = maxBufferedPerToken, true
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[slotKey]*slot{}
	}
	sl, ok := s.m[slotKey{tok, kind}]
	if !ok {
		sl = &slot{run: make(chan struct{}, size)}
		s.m[slotKey{tok, kind}] = sl
	}
	select {
	case sl.run <- struct{}{}:
		s.mu.Unlock()
		return func() { <-sl.run }, nil
	default:
	}
	if !wait || sl.waiting >= maxWaitingPerToken {
		s.mu.Unlock()
		return nil, tooMany(tok, kind)
	}
	sl.waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		sl.waiting--
		s.mu.Unlock()
	}()
	timer := time.NewTimer(maxSlotWait)
	defer timer.Stop()
	select {
	case sl.run <- struct{}{}:
		return func() { <-sl.run }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, tooMany(tok, kind)
	}
}

// reset forgets the places of the tokens (a reload): calls in flight
// give theirs back to what they took them from.
func (s *slots) reset() {
	s.mu.Lock()
	s.m = nil
	s.mu.Unlock()
}

func tooMany(tok *Token, kind string) error {
	return &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeTooMany,
		Message: fmt.Sprintf("token %q has too many %s calls at once; try again later", tok.Name, kind)}
}

// execStream runs the command over the caller's connection, upgraded:
// what the caller sends is its input (a half-close ends it); what it
// writes comes back in frames (api.StreamStdout, api.StreamStderr), and
// a last frame (api.StreamExit) holds its exit code.
func (s *Server) execStream(c *call, cli EngineClient, id string, req api.ExecRequest) error {
	execID, hj, err := c.startExec(cli, id, req, true)
	if err != nil {
		return err
	}
	defer hj.Close()
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	c.status = http.StatusSwitchingProtocols
	_, _ = brw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return err
	}
	if req.TTY {
		c.resize(cli, execID)
	}
	go func(in *bufio.Reader) {
		_, _ = io.Copy(hj.Conn, in)
		if !req.TTY { // a terminal's end of input is in its stream (^D), as docker exec -t
			_ = hj.CloseWrite()
		}
	}(brw.Reader)
	fw := &frames{w: conn}
	// A caller that is gone is found by writing to it: an empty frame now
	// and then (a command that says nothing would else hold the server's
	// connection to its end).
	done := make(chan struct{})
	defer close(done)
	go func() {
		keep := time.NewTicker(keepalive)
		defer keep.Stop()
		for {
			select {
			case <-done:
				return
			case <-keep.C:
				if _, err := fw.stream(api.StreamStdout).Write(nil); err != nil {
					hj.Close()
					return
				}
			}
		}
	}()
	if req.TTY {
		_, err = io.Copy(fw.stream(api.StreamStdout), hj.Reader)
	} else {
		_, err = stdcopy.StdCopy(fw.stream(api.StreamStdout), fw.stream(api.StreamStderr), hj.Reader)
	}
	exit := api.ExitFrame{}
	if err != nil {
		exit.ExitCode, exit.Error = -1, err.Error()
	} else if exit.ExitCode, err = c.exitCode(cli, execID); err != nil {
		exit.Error = err.Error()
	}
	b, _ := json.Marshal(exit)
	_, _ = fw.stream(api.StreamExit).Write(b)
	return nil
}

// keepalive is how often a streamed exec checks that its caller is there.
var keepalive = 15 * time.Second

// resize gives a terminal the size the query asks (h, w).
func (c *call) resize(cli EngineClient, execID string) {
	h, herr := strconv.ParseUint(c.r.URL.Query().Get("h"), 10, 16)
	w, werr := strconv.ParseUint(c.r.URL.Query().Get("w"), 10, 16)
	if herr != nil || werr != nil || h == 0 || w == 0 {
		return
	}
	ctx, cancel := c.bounded()
	defer cancel()
	_ = cli.ContainerExecResize(ctx, execID, container.ResizeOptions{Height: uint(h), Width: uint(w)})
}

// frames writes the multiplexed stream of a streamed exec; a caller that
// reads nothing for a minute is let go.
type frames struct {
	mu sync.Mutex
	w  net.Conn
}

func (f *frames) stream(kind byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = f.w.SetWriteDeadline(time.Now().Add(time.Minute))
		var h [8]byte
		h[0] = kind
		binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
		if _, err := f.w.Write(h[:]); err != nil {
			return 0, err
		}
		return f.w.Write(p)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
