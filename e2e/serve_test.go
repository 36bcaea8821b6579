package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"

	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

// serveRig runs `docker workspace serve` for one test, on a socket of its
// own, with tokens over subdirs of its own (prefix).
type serveRig struct {
	t                 *testing.T
	h                 *harness
	dir, sock, tokens string
	audit             string
	prefix            string
	proc              *icmd.Result
	stderr            *syncBuffer
	global            []string       // the binary's global options (--context)
	cfg               map[string]any // the tokens' configuration
}

// The rig's secrets: team-a may do everything below PREFIXa/, team-b
// below PREFIXb/; reader may only list and inspect team-a's; expired is.
const (
	secretA       = "team-a-secret-0123456789"
	secretB       = "team-b-secret-0123456789"
	secretReader  = "reader-secret-0123456789"
	secretExpired = "expired-secret-012345678"
	secretCopier  = "copier-secret-0123456789"
)

func newServeRig(t *testing.T) *serveRig {
	t.Helper()
	requireEngine(t, "modern")
	h := newHarness(t)
	dir := t.TempDir()
	return startServeRig(t, h, dir, nil, map[string]any{"workspace-root": filepath.Join(dir, "root"), "shared-dir": filepath.Join(dir, "shared")})
}

// startServeRig starts a server of harness h, with global options and the
// tokens' configuration cfg.
func startServeRig(t *testing.T, h *harness, dir string, global []string, cfg map[string]any) *serveRig {
	t.Helper()
	r := &serveRig{t: t, h: h, dir: dir, prefix: "e2e-" + h.id + "-srv-", global: global, cfg: cfg}
	r.sock = filepath.Join(r.dir, "s.sock")
	r.tokens = filepath.Join(r.dir, "tokens.json")
	r.audit = filepath.Join(r.dir, "audit.log")
	r.writeTokens(true)
	r.start()
	t.Cleanup(r.stop)
	return r
}

// subdir is a subdir of team (a or b), removed when the test ends.
func (r *serveRig) subdir(team, name string) string {
	return r.h.track(r.prefix + team + "/" + name)
}

func (r *serveRig) writeTokens(withB bool) {
	cfg := r.cfg
	past := time.Now().Add(-time.Hour)
	tokens := []map[string]any{
		{"name": "team-a", "secret": secretA, "workspaces": []string{r.prefix + "a/*"}, "verbs": []string{"*"}, "config": cfg},
		{"name": "reader", "secret": secretReader, "workspaces": []string{r.prefix + "a/*"}, "verbs": []string{"list", "inspect"}, "config": cfg},
		{"name": "copier", "secret": secretCopier, "workspaces": []string{r.prefix + "a/*"}, "verbs": []string{"cp"}, "config": cfg},
		{"name": "expired", "secret": secretExpired, "workspaces": []string{"**"}, "verbs": []string{"*"}, "expires": past, "config": cfg},
	}
	if withB {
		tokens = append(tokens, map[string]any{"name": "team-b", "secret": secretB, "workspaces": []string{r.prefix + "b/**"}, "verbs": []string{"*"}, "config": cfg})
	}
	b, err := json.Marshal(map[string]any{"tokens": tokens})
	assert.NilError(r.t, err)
	assert.NilError(r.t, os.WriteFile(r.tokens+".new", b, 0o600))
	assert.NilError(r.t, os.Rename(r.tokens+".new", r.tokens))
}

// start starts the server and waits until it answers.
func (r *serveRig) start() {
	r.t.Helper()
	r.stderr = &syncBuffer{}
	// The binary itself, as a service runs it (the docker CLI in front of
	// a plugin would take the signals: SIGKILL would not reach it).
	args := append(append([]string{"--config", env.configDir}, r.global...), "serve", "--listen", "unix://"+r.sock, "--tokens", r.tokens, "--audit", r.audit)
	cmd := icmd.Command(filepath.Join(env.configDir, "plugins", "docker-workspace"), args...)
	r.proc = icmd.StartCmd(cmd, icmd.WithEnv(r.h.env...), func(c *icmd.Cmd) { c.Stderr = r.stderr })
	assert.NilError(r.t, r.proc.Error)
	poll.WaitOn(r.t, func(poll.LogT) poll.Result {
		if c, err := net.Dial("unix", r.sock); err == nil {
			c.Close()
			return poll.Success()
		}
		if strings.Contains(r.stderr.String(), "Error") || strings.Contains(r.stderr.String(), "invalid") {
			return poll.Error(fmt.Errorf("serve failed: %s", r.stderr))
		}
		return poll.Continue("serve does not listen yet: %s", r.stderr)
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))
}

// stop stops the server (SIGTERM) and waits for it.
func (r *serveRig) stop() {
	if r.proc == nil || r.proc.Cmd.ProcessState != nil {
		return
	}
	_ = r.proc.Cmd.Process.Signal(syscall.SIGTERM)
	_ = r.proc.Cmd.Wait()
}

// kill kills the server with SIGKILL.
func (r *serveRig) kill() {
	_ = r.proc.Cmd.Process.Kill()
	_ = r.proc.Cmd.Wait()
}

func (r *serveRig) client(secret string) *api.Client {
	c, err := api.NewClient("unix://"+r.sock, secret, nil)
	assert.NilError(r.t, err)
	r.t.Cleanup(c.Close)
	return c
}

// raw sends a request as written and returns the status and the body.
func (r *serveRig) raw(method, path, secret string, body io.Reader) (int, api.Error) {
	r.t.Helper()
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", r.sock)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://x"+path, body)
	assert.NilError(r.t, err)
	req.URL.RawPath, req.URL.Path = "", "" // as written: no cleaning
	req.URL.Opaque = path
	if q := strings.Index(path, "?"); q >= 0 {
		req.URL.Opaque, req.URL.RawQuery = path[:q], path[q+1:]
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := hc.Do(req)
	assert.NilError(r.t, err)
	defer resp.Body.Close()
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func (r *serveRig) auditLog() []api.AuditRecord {
	r.t.Helper()
	b, err := os.ReadFile(r.audit)
	assert.NilError(r.t, err)
	var out []api.AuditRecord
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var rec api.AuditRecord
		assert.NilError(r.t, json.Unmarshal([]byte(l), &rec), l)
		out = append(out, rec)
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func esc(subdir string) string { return strings.ReplaceAll(subdir, "/", "%2F") }

// Every call outside a token's scope is refused, with the status a client
// expects, changes nothing, and is one "denied" line of the audit log that
// names the token and never a secret.
func TestServeRefusesOutOfScope(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	mine := r.subdir("a", "mine")
	theirs := r.subdir("b", "theirs")
	_, err := r.client(secretB).Ensure(ctx, theirs)
	assert.NilError(t, err)
	_, err = r.client(secretA).Ensure(ctx, mine)
	assert.NilError(t, err)
	before := len(r.auditLog())

	bigBody := `{"cmd":["true"],"env":["X=` + strings.Repeat("x", 2<<20) + `"]}`
	cases := []struct {
		name, method, path, secret, body string
		status                           int
	}{
		{"another tenant's workspace", "POST", "/v1/workspaces/" + esc(theirs) + "/exec", secretA, `{"cmd":["cat","/etc/hostname"]}`, 403},
		{"another tenant's files", "GET", "/v1/workspaces/" + esc(theirs) + "/file?path=x", secretA, "", 403},
		{"another tenant's list entry", "GET", "/v1/workspaces/" + esc(theirs), secretA, "", 403},
		{"a verb not granted", "POST", "/v1/workspaces/" + esc(mine) + "/ensure", secretReader, "", 403},
		{"exec not granted", "POST", "/v1/workspaces/" + esc(mine) + "/exec", secretReader, `{"cmd":["id"]}`, 403},
		{"a configuration field", "POST", "/v1/workspaces/" + esc(mine) + "/ensure", secretA, `{"config":{"image":"busybox"}}`, 403},
		{"a privileged exec", "POST", "/v1/workspaces/" + esc(mine) + "/exec", secretA, `{"cmd":["id"],"privileged":true}`, 400},
		{"another user", "POST", "/v1/workspaces/" + esc(mine) + "/exec", secretA, `{"cmd":["id"],"user":"root"}`, 400},
		{"a subdir that climbs out", "POST", "/v1/workspaces/" + esc(r.prefix+"a/../b/theirs") + "/ensure", secretA, "", 400},
		{"an absolute subdir", "POST", "/v1/workspaces/" + esc("/"+r.prefix+"a/x") + "/ensure", secretA, "", 400},
		{"a path that is not clean", "POST", "/v1/workspaces/" + r.prefix + "a/../b/theirs/ensure", secretA, "", 400},
		{"a container's ID for a subdir", "POST", "/v1/workspaces/" + esc(r.prefix+"a/gws-x") + "/stop", secretA, "", 404},
		{"a file path that climbs out", "GET", "/v1/workspaces/" + esc(mine) + "/file?path=../../../etc/passwd", secretA, "", 400},
		{"an absolute file path elsewhere", "GET", "/v1/workspaces/" + esc(mine) + "/file?path=/etc/passwd", secretA, "", 403},
		{"the shared directory", "PUT", "/v1/workspaces/" + esc(mine) + "/file?path=/home/agent/shared/x", secretA, "x", 403},
		{"an archive into /", "PUT", "/v1/workspaces/" + esc(mine) + "/archive?path=/", secretA, "", 403},
		{"the engine's create", "POST", "/containers/create", secretA, `{"Image":"busybox"}`, 404},
		{"the engine's versioned API", "GET", "/v1.43/containers/json", secretA, "", 404},
		{"the engine's exec", "POST", "/v1/containers/gws-x/exec", secretA, `{"Cmd":["id"]}`, 404},
		{"no token", "GET", "/v1/workspaces", "", "", 401},
		{"an unknown token", "GET", "/v1/workspaces", "team-a-secret-0123456780", "", 401},
		{"an expired token", "GET", "/v1/workspaces", secretExpired, "", 401},
		{"an oversized body", "POST", "/v1/workspaces/" + esc(mine) + "/exec", secretA, bigBody, 413},
	}
	for _, tc := range cases {
		status, e := r.raw(tc.method, tc.path, tc.secret, strings.NewReader(tc.body))
		assert.Check(t, is.Equal(status, tc.status), "%s: %+v", tc.name, e)
		assert.Check(t, e.Code != "" && e.Message != "", "%s: no JSON error: %+v", tc.name, e)
	}
	// Nothing of team-b's was touched, nothing made.
	ws, err := r.client(secretB).Inspect(ctx, theirs)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ws.State, "running"))
	assert.Check(t, !r.h.exists("modern", containerName(r.prefix+"a/gws-x")))

	log := r.auditLog()[before:]
	assert.Assert(t, is.Len(log, len(cases)), "each refusal is one audit line")
	raw, _ := os.ReadFile(r.audit)
	for _, s := range []string{secretA, secretB, secretReader, secretExpired} {
		assert.Check(t, !strings.Contains(string(raw), s), "a secret in the audit log")
	}
	for i, rec := range log {
		assert.Check(t, rec.Outcome == "denied" || rec.Code == api.CodeTooLarge || rec.Code == api.CodeNotFound || rec.Code == api.CodeBadRequest,
			"%s: %+v", cases[i].name, rec)
		assert.Check(t, rec.Status == cases[i].status, "%s: %+v", cases[i].name, rec)
		assert.Check(t, strings.HasPrefix(rec.Peer, "unix:uid="), "%+v", rec)
	}
	assert.Check(t, is.Equal(log[0].Token, "team-a"))
	assert.Check(t, is.Equal(log[len(cases)-4].Token, ""), "an unknown caller is no token")

	// A token that may copy but not ensure never wakes a workspace on its
	// way (the attack round: it started a stopped one, unaudited).
	zero := 0
	assert.NilError(t, r.client(secretA).Stop(ctx, mine, &zero))
	_, err = r.client(secretCopier).CopyFrom(ctx, mine, ".")
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 409, "%v", err)
	r.h.docker("inspect", "--format", "{{.State.Status}}", containerName(mine)).Assert(t, icmd.Expected{Out: "exited"})
}

// A hostile tenant's planted links reach, through the server, nothing its
// own user cannot: the server reads and writes as the workspace's user.
func TestServeFilePathsActAsTheTenant(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	c := r.client(secretA)
	sub := r.subdir("a", "links")
	res, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "ln -s /etc etc; ln -s /etc/passwd pw; ln -s /home/agent/shared sh"}})
	assert.NilError(t, err)
	assert.Equal(t, res.ExitCode, 0, res.Stderr)

	err = c.WriteFile(ctx, sub, "etc/passwd", []byte("root::0:0::/:/bin/sh\n"), 0)
	assert.Check(t, is.ErrorContains(err, "forbidden"))
	_, err = c.ReadFile(ctx, sub, "pw")
	assert.Check(t, is.ErrorContains(err, "not a regular file"))
	err = c.WriteFile(ctx, sub, "pw", []byte("x"), 0)
	assert.Check(t, is.ErrorContains(err, "not a regular file"))
	passwd, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"cat", "/etc/passwd"}})
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(passwd.Stdout, "root::0:0"), "the tenant's /etc/passwd was written through a link")
	// An archive whose entries climb out, or carry a device node or a
	// setuid bit, is made safe or refused.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "../escaped", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}))
	_, _ = tw.Write([]byte("x"))
	assert.NilError(t, tw.Close())
	err = c.CopyTo(ctx, sub, ".", &tb)
	assert.Check(t, is.ErrorContains(err, "leaves the directory"))
	_, err = os.Stat(filepath.Join(r.dir, "root", r.prefix+"a", "escaped"))
	assert.Check(t, errors.Is(err, os.ErrNotExist), "an entry climbed out of the workspace")
}

// A workspace's whole life through the API: ensure, exec (buffered and
// streamed, with input and a terminal), files in and out (made safe), stats,
// events, stop, remove — the data stays.
func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	c := r.client(secretA)
	sub := r.subdir("a", "life")

	res, err := c.Ensure(ctx, sub)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, "created"))
	res, err = c.Ensure(ctx, sub)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, "running"))

	out, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "cat; echo $G; pwd; id -u; echo oops >&2; exit 7"}, Env: []string{"G=hi"}, Stdin: "in\n"})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(out, api.ExecResult{ExitCode: 7, Stdout: "in\nhi\n/home/agent/workspace\n1000\n", Stderr: "oops\n"}))

	var so, se bytes.Buffer
	code, err := c.ExecStream(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "tr a-z A-Z; echo err >&2; exit 4"}}, strings.NewReader("streamed\n"), &so, &se)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(code, 4))
	assert.Check(t, is.Equal(so.String(), "STREAMED\n"))
	assert.Check(t, is.Equal(se.String(), "err\n"))
	so.Reset()
	code, err = c.ExecStream(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "test -t 0 && echo tty"}, TTY: true}, nil, &so, nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(code, 0))
	assert.Check(t, is.Contains(so.String(), "tty"))

	assert.Check(t, is.ErrorContains(c.WriteFile(ctx, sub, "notes/../a.txt", []byte("x"), 0), `".." element`))
	assert.NilError(t, c.WriteFile(ctx, sub, "a.txt", []byte("hello\n"), 0o600))
	got, err := c.ReadFile(ctx, sub, "/home/agent/workspace/a.txt")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), "hello\n"))
	fi, err := os.Stat(filepath.Join(r.dir, "root", sub, "a.txt"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)))

	// A setuid program and a fifo the tenant made come out without their
	// bit, and without the fifo.
	_, err = c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "mkdir out && cp /bin/busybox out/tool 2>/dev/null || cp /bin/sh out/tool; chmod 4755 out/tool; mkfifo out/pipe"}})
	assert.NilError(t, err)
	rc, err := c.CopyFrom(ctx, sub, "out")
	assert.NilError(t, err)
	tr := tar.NewReader(rc)
	names := map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		names[h.Name] = h.Mode
		assert.Check(t, h.Mode&0o6000 == 0, "%s keeps a setuid or setgid bit", h.Name)
	}
	rc.Close()
	assert.Check(t, is.Contains(names, "out/tool"))
	assert.Check(t, !hasKey(names, "out/pipe"), "a fifo came out")

	// Into the workspace: the workspace user's files.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "in/f", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 2, Uid: 0}))
	_, _ = tw.Write([]byte("ok"))
	assert.NilError(t, tw.Close())
	assert.NilError(t, c.CopyTo(ctx, sub, ".", &tb))
	st, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"stat", "-c", "%u %a", "in/f"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Stdout, "1000 755\n"))

	s, err := c.Stats(ctx, sub)
	assert.NilError(t, err)
	assert.Check(t, s.PIDs >= 1 && s.MemoryBytes > 0, "%+v", s)
	list, err := c.List(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 1))
	assert.Check(t, is.Equal(list[0].Subdir, sub))

	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, _ := c.Events(evCtx, "", "")
	time.Sleep(300 * time.Millisecond)
	zero := 0
	assert.NilError(t, c.Stop(ctx, sub, &zero))
	seen := waitEvent(t, evs, "stopped")
	assert.Check(t, is.Equal(seen.Subdir, sub))

	err = c.Remove(ctx, sub, false)
	assert.NilError(t, err)
	_, err = c.Inspect(ctx, sub)
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 404, "%v", err)
	data, err := os.ReadFile(filepath.Join(r.dir, "root", sub, "a.txt"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "hello\n"), "remove keeps the data")
}

func hasKey(m map[string]int64, k string) bool { _, ok := m[k]; return ok }

func waitEvent(t *testing.T, evs <-chan api.Event, kind string) api.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the event stream ended before a %s event", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 20 s", kind)
		}
	}
}

// 200 concurrent exec calls each get their own exit code and output.
func TestServeConcurrentExec(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	c := r.client(secretA)
	subs := []string{r.subdir("a", "c1"), r.subdir("a", "c2"), r.subdir("a", "c3"), r.subdir("a", "c4")}
	for _, s := range subs {
		_, err := c.Ensure(ctx, s)
		assert.NilError(t, err)
	}
	n := envInt("E2E_SERVE_EXECS", 200)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Exec(ctx, subs[i%len(subs)], api.ExecRequest{Cmd: []string{"sh", "-c", fmt.Sprintf("echo out-%d; echo err-%d >&2; exit %d", i, i, i%256)}})
			switch {
			case err != nil:
				errs <- fmt.Errorf("exec %d: %w", i, err)
			case res.ExitCode != i%256 || res.Stdout != fmt.Sprintf("out-%d\n", i) || res.Stderr != fmt.Sprintf("err-%d\n", i):
				errs <- fmt.Errorf("exec %d: %+v", i, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Killed with -9 in the middle of an upload and an exec, the server loses
// no data (the file keeps its old content, no half-written file is left)
// and leaves nothing in the way: started again on its socket, the next
// call succeeds. A SIGHUP that drops a token ends its access at once.
func TestServeKillAndReload(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	c := r.client(secretA)
	sub := r.subdir("a", "kill")
	assert.NilError(t, c.WriteFile(ctx, sub, "keep.txt", []byte("old\n"), 0))

	// An upload of 64 MiB that the server dies in the middle of.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- c.WriteFileFrom(ctx, sub, "keep.txt", pr, 64<<20, 0)
	}()
	_, err := pw.Write(bytes.Repeat([]byte("n"), 1<<20))
	assert.NilError(t, err)
	execDone := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"sleep", "3"}})
		execDone <- err
	}()
	time.Sleep(500 * time.Millisecond)
	r.kill()
	_ = pw.Close()
	assert.Check(t, <-done != nil)
	assert.Check(t, <-execDone != nil)

	r.start() // the socket the killed server left is replaced
	got, err := r.client(secretA).ReadFile(ctx, sub, "keep.txt")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), "old\n"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		left, err := os.ReadDir(filepath.Join(r.dir, "root", sub))
		if err != nil {
			return poll.Error(err)
		}
		for _, e := range left {
			if strings.HasPrefix(e.Name(), ".docker-workspace-upload") {
				return poll.Continue("a half-written file is left: %s", e.Name())
			}
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second))

	// SIGHUP: team-b's token is gone from the file, and at once from the
	// server.
	theirs := r.subdir("b", "gone")
	b := r.client(secretB)
	_, err = b.Ensure(ctx, theirs)
	assert.NilError(t, err)
	r.writeTokens(false)
	assert.NilError(t, r.proc.Cmd.Process.Signal(syscall.SIGHUP))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if strings.Contains(r.stderr.String(), "tokens reloaded") {
			return poll.Success()
		}
		return poll.Continue("not reloaded yet: %s", r.stderr)
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(20*time.Millisecond))
	_, err = b.Inspect(ctx, theirs)
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 401, "%v", err)
	// and what it could reach before is still there, untouched
	r.h.docker("inspect", "--format", "{{.State.Status}}", containerName(theirs)).Assert(t, icmd.Expected{Out: "running"})
}

// The streamed form: what a caller types reaches the command as it goes,
// line by line, as over docker exec -i.
func TestServeStreamIsInteractive(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	c := r.client(secretA)
	sub := r.subdir("a", "inter")
	_, err := c.Ensure(ctx, sub)
	assert.NilError(t, err)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code, err := c.ExecStream(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "while read l; do echo got-$l; done"}}, inR, outW, nil)
		assert.Check(t, err)
		_ = outW.Close()
		done <- code
	}()
	lines := bufio.NewReader(outR)
	for _, w := range []string{"one", "two"} {
		_, err := fmt.Fprintln(inW, w)
		assert.NilError(t, err)
		l, err := lines.ReadString('\n')
		assert.NilError(t, err)
		assert.Check(t, is.Equal(l, "got-"+w+"\n"))
	}
	_ = inW.Close()
	assert.Check(t, is.Equal(<-done, 0))
}

// The reaper through the server: `reap --server` with a token stops the
// idle workspaces the token covers, leaves a busy one and every other
// token's alone, and never holds the Docker socket.
func TestServeReap(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	ctx := context.Background()
	a, b := r.client(secretA), r.client(secretB)
	idle, busy, theirs := r.subdir("a", "idle"), r.subdir("a", "busy"), r.subdir("b", "idle")
	for _, s := range []string{idle, busy} {
		_, err := a.Ensure(ctx, s)
		assert.NilError(t, err)
	}
	_, err := b.Ensure(ctx, theirs)
	assert.NilError(t, err)
	_, err = a.Exec(ctx, busy, api.ExecRequest{Cmd: []string{"sh", "-c", "sleep 3600 >/dev/null 2>&1 &"}})
	assert.NilError(t, err)

	reaper := icmd.StartCmd(icmd.Command(filepath.Join(env.configDir, "plugins", "docker-workspace"), "reap",
		"--server", "unix://"+r.sock, "--idle-for", "2s", "--interval", "1s"),
		icmd.WithEnv(append(r.h.env, "DOCKER_HOST=unix:///nowhere.sock", "GATEWAY_WORKSPACE_TOKEN="+secretA)...))
	assert.NilError(t, reaper.Error)
	t.Cleanup(func() {
		_ = reaper.Cmd.Process.Signal(syscall.SIGTERM)
		_ = reaper.Cmd.Wait()
	})
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if r.h.inspect("modern", containerName(idle)).State.Status == "exited" {
			return poll.Success()
		}
		return poll.Continue("%s still runs", idle)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
	assert.Check(t, is.Equal(r.h.inspect("modern", containerName(busy)).State.Status, "running"))
	assert.Check(t, is.Equal(r.h.inspect("modern", containerName(theirs)).State.Status, "running"), "another token's workspace was reaped")

	// A token without the verb is refused, in one line.
	res := icmd.RunCmd(icmd.Command(filepath.Join(env.configDir, "plugins", "docker-workspace"), "reap",
		"--server", "unix://"+r.sock, "--idle-for", "2s", "--once"), icmd.WithEnv(append(r.h.env, "GATEWAY_WORKSPACE_TOKEN="+secretReader)...))
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "may not use reap"})
}

// On a Swarm, as every other verb: the server of a context whose engine
// manages a Swarm, with --orchestrator swarm, makes services, and execs and
// copies reach their tasks' containers through the nodes' engines.
func TestServeSwarm(t *testing.T) {
	t.Parallel()
	s := newSwarmHarness(t)
	r := startServeRig(t, s.harness, t.TempDir(), []string{"--context", "swarm"}, nil)
	ctx := context.Background()
	c := r.client(secretA)
	sub := r.prefix + "a/sw"
	res, err := c.Ensure(ctx, sub)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, "created"))
	assert.Check(t, res.Node != "", "a service's node: %+v", res)
	assert.NilError(t, c.WriteFile(ctx, sub, "f", []byte("on-swarm\n"), 0))
	out, err := c.Exec(ctx, sub, api.ExecRequest{Cmd: []string{"sh", "-c", "cat f; exit 3"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(out, api.ExecResult{ExitCode: 3, Stdout: "on-swarm\n"}))
	s.docker("--context", "swarm", "service", "inspect", "--format", "{{.Spec.Name}}", containerName(sub)).Assert(t, icmd.Expected{Out: containerName(sub)})
	assert.NilError(t, c.Remove(ctx, sub, true))
	_, err = c.Inspect(ctx, sub)
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 404, "%v", err)
	// reap is one engine's: refused, in one line.
	_, err = c.Reap(ctx, api.ReapRequest{IdleFor: "1m"})
	assert.Check(t, errors.As(err, &ae) && ae.Status == 400, "%v", err)
}

// On TCP, only with TLS and a client certificate of the operator's CA (and
// a token too); plain TCP is refused before anything listens.
func TestServeTCPNeedsClientCertificates(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	bin := filepath.Join(env.configDir, "plugins", "docker-workspace")
	tokens := filepath.Join(dir, "tokens.json")
	assert.NilError(t, os.WriteFile(tokens, []byte(`{"tokens":[{"name":"t","secret":"`+secretA+`","workspaces":["**"],"verbs":["list"]}]}`), 0o600))

	icmd.RunCmd(icmd.Command(bin, "--config", env.configDir, "serve", "--listen", "tcp://127.0.0.1:0", "--tokens", tokens),
		icmd.WithEnv(h.env...)).Assert(t, icmd.Expected{ExitCode: 125, Err: "tcp needs TLS with client certificates"})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	addr := l.Addr().String()
	l.Close()
	proc := icmd.StartCmd(icmd.Command(bin, "--config", env.configDir, "serve", "--listen", "tcp://"+addr, "--tokens", tokens,
		"--tlscacert", pki.ca, "--tlscert", pki.serverCert, "--tlskey", pki.serverKey), icmd.WithEnv(h.env...))
	assert.NilError(t, proc.Error)
	t.Cleanup(func() {
		_ = proc.Cmd.Process.Signal(syscall.SIGTERM)
		_ = proc.Cmd.Wait()
	})
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return poll.Success()
		}
		return poll.Continue("not listening yet")
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))

	ctx := context.Background()
	withCert, err := api.NewClient("https://"+addr, secretA, pki.clientTLS(t, true))
	assert.NilError(t, err)
	defer withCert.Close()
	_, err = withCert.List(ctx)
	assert.NilError(t, err)
	noCert, err := api.NewClient("https://"+addr, secretA, pki.clientTLS(t, false))
	assert.NilError(t, err)
	defer noCert.Close()
	_, err = noCert.List(ctx)
	assert.Check(t, err != nil, "a caller without a client certificate was answered")
	badToken, err := api.NewClient("https://"+addr, "not-a-token-0123456789", pki.clientTLS(t, true))
	assert.NilError(t, err)
	defer badToken.Close()
	_, err = badToken.List(ctx)
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 401, "%v", err)
}

// A caller that sends less of its body than it said is answered and let
// go, with or without a token: it never holds a connection of the
// server's (the attack round: 300 such calls held 300 forever).
func TestServeStalledBodyIsLetGo(t *testing.T) {
	t.Parallel()
	r := newServeRig(t)
	for _, secret := range []string{"", secretA} {
		conn, err := net.Dial("unix", r.sock)
		assert.NilError(t, err)
		defer conn.Close()
		auth := ""
		if secret != "" {
			auth = "Authorization: Bearer " + secret + "\r\n"
		}
		_, err = fmt.Fprintf(conn, "POST /v1/workspaces/%s/ensure HTTP/1.1\r\nHost: x\r\n%sContent-Length: 1000\r\n\r\n{}", esc(r.prefix+"a/x"), auth)
		assert.NilError(t, err)
		assert.NilError(t, conn.SetReadDeadline(time.Now().Add(45*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		assert.NilError(t, err, "no answer to a stalled body (token %q)", secret)
		resp.Body.Close()
		assert.Check(t, resp.StatusCode == 401 || resp.StatusCode == 400, "%d", resp.StatusCode)
		_, err = conn.Read(make([]byte, 1))
		assert.Check(t, err != nil, "the connection stays open")
	}
}
