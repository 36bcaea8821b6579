package server

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

var testConfig = sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh"}

// rig is a server over a fake engine, with the tokens "a" (everything
// below team-a/) and "r" (list and inspect of team-a/*).
type rig struct {
	f     *sandboxtest.Engine
	s     *Server
	audit bytes.Buffer
}

const (
	secretA = "secret-of-team-a-0123"
	secretR = "secret-of-reader-0123"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{f: sandboxtest.NewEngine()}
	tokens, err := NewTokens([]TokenSpec{
		{Name: "a", Secret: secretA, Workspaces: []string{"team-a/**"}, Verbs: []string{"*"}},
		{Name: "r", Secret: secretR, Workspaces: []string{"team-a/*"}, Verbs: []string{api.VerbList, api.VerbInspect}},
	}, func(map[string]any) (sandbox.Config, error) { return testConfig, nil })
	assert.NilError(t, err)
	r.s = New(Options{
		Orchestrator: engine.New(r.f, engine.Options{}),
		Engine:       func(sandbox.Location) (EngineClient, error) { return r.f, nil },
		Audit:        &r.audit,
	}, tokens)
	return r
}

func (r *rig) call(method, path, secret, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://x"+path, strings.NewReader(body))
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	w := httptest.NewRecorder()
	r.s.ServeHTTP(w, req)
	return w
}

func (r *rig) auditLines(t *testing.T) []api.AuditRecord {
	t.Helper()
	var out []api.AuditRecord
	for _, l := range strings.Split(strings.TrimSpace(r.audit.String()), "\n") {
		if l == "" {
			continue
		}
		var rec api.AuditRecord
		assert.NilError(t, json.Unmarshal([]byte(l), &rec))
		out = append(out, rec)
	}
	return out
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e api.Error
	assert.NilError(t, json.Unmarshal(w.Body.Bytes(), &e), w.Body.String())
	return e.Code
}

// Each refusal answers its status and code, asks the engine nothing, and
// is one "denied" line of the audit log.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, secret, body string
		status                           int
		code, token                      string
	}{
		{"no token", "GET", "/v1/workspaces", "", "", 401, api.CodeUnauthorized, ""},
		{"a wrong token", "GET", "/v1/workspaces", secretA + "x", "", 401, api.CodeUnauthorized, ""},
		{"a verb not granted", "POST", "/v1/workspaces/team-a%2Fx/ensure", secretR, "", 403, api.CodeForbidden, "r"},
		{"another tenant", "POST", "/v1/workspaces/team-b%2Fx/ensure", secretA, "", 403, api.CodeForbidden, "a"},
		{"deeper than the pattern", "GET", "/v1/workspaces/team-a%2Fx%2Fy", secretR, "", 403, api.CodeForbidden, "r"},
		{"a subdir that climbs", "POST", "/v1/workspaces/team-a%2F..%2Fteam-b/ensure", secretA, "", 400, api.CodeBadRequest, "a"},
		{"an unclean path", "POST", "/v1/workspaces/team-a/../x/ensure", secretA, "", 400, api.CodeBadRequest, "a"},
		{"the engine's API", "POST", "/containers/create", secretA, "{}", 404, api.CodeNotFound, "a"},
		{"a configuration field", "POST", "/v1/workspaces/team-a%2Fx/ensure", secretA, `{"config":{"image":"x"}}`, 403, api.CodeForbidden, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			w := r.call(tc.method, tc.path, tc.secret, tc.body)
			assert.Check(t, is.Equal(w.Code, tc.status), w.Body.String())
			assert.Check(t, is.Equal(errCode(t, w), tc.code))
			assert.Check(t, is.Equal(r.f.Calls(), ""), "the engine was asked")
			lines := r.auditLines(t)
			assert.Assert(t, is.Len(lines, 1))
			assert.Check(t, is.Equal(lines[0].Outcome, "denied"))
			assert.Check(t, is.Equal(lines[0].Token, tc.token))
			assert.Check(t, !strings.Contains(r.audit.String(), "secret-of"), "a secret in the audit log")
		})
	}
}

// A buffered exec ensures the workspace, runs the command as its user in
// its directory, and answers its exit code and output; it is audited.
func TestExecBuffered(t *testing.T) {
	r := newRig(t)
	var gotCmd []string
	r.f.OnExec = func(_ *sandboxtest.Ctr, cmd []string) (string, string, int) {
		gotCmd = cmd
		return "out\n", "err\n", 3
	}
	w := r.call("POST", "/v1/workspaces/team-a%2Fx/exec", secretA, `{"cmd":["sh","-c","x"],"env":["A=1"]}`)
	assert.Assert(t, is.Equal(w.Code, 200), w.Body.String())
	var res api.ExecResult
	assert.NilError(t, json.Unmarshal(w.Body.Bytes(), &res))
	assert.Check(t, is.DeepEqual(res, api.ExecResult{ExitCode: 3, Stdout: "out\n", Stderr: "err\n"}))
	assert.Check(t, is.DeepEqual(gotCmd, []string{"sh", "-c", "x"}))
	assert.Check(t, is.Contains(r.f.Calls(), "create:"), "ensured first")
	lines := r.auditLines(t)
	assert.Assert(t, is.Len(lines, 1))
	assert.Check(t, is.Equal(lines[0].Outcome, "ok"))
	assert.Check(t, is.Equal(lines[0].Verb, api.VerbExec))
	assert.Check(t, is.Equal(lines[0].Workspace, "team-a/x"))
}

// What an exec request may not hold is refused before the engine is
// asked.
func TestExecRefusesBadInput(t *testing.T) {
	for _, body := range []string{
		`{}`, `{"cmd":[""]}`, `{"cmd":["id"],"env":["NOEQUALS"]}`, `{"cmd":["id"],"workdir":"a\u0000"}`,
		`{"cmd":["id"],"tty":true}`, `{"cmd":["id"],"privileged":true}`, `{"cmd":["id"],"user":"root"}`, `{"cmd":["a\u0000b"]}`, `{"cmd":["id"]} {}`,
	} {
		r := newRig(t)
		w := r.call("POST", "/v1/workspaces/team-a%2Fx/exec", secretA, body)
		assert.Check(t, is.Equal(w.Code, 400), "%s: %s", body, w.Body.String())
		assert.Check(t, is.Equal(r.f.Calls(), ""), body)
	}
}

// list answers only the workspaces a token covers.
func TestListIsScoped(t *testing.T) {
	r := newRig(t)
	r.f.OnExec = func(*sandboxtest.Ctr, []string) (string, string, int) { return "", "", 0 }
	eng := engine.New(r.f, engine.Options{})
	for _, s := range []string{"team-a/x", "team-a/x/deep", "team-b/y"} {
		_, err := eng.Ensure(t.Context(), s, testConfig)
		if s != "team-a/x/deep" {
			assert.NilError(t, err)
		}
	}
	for secret, want := range map[string][]string{secretA: {"team-a/x"}, secretR: {"team-a/x"}} {
		w := r.call("GET", "/v1/workspaces", secret, "")
		assert.Assert(t, is.Equal(w.Code, 200))
		var ws []api.Workspace
		assert.NilError(t, json.Unmarshal(w.Body.Bytes(), &ws))
		var got []string
		for _, x := range ws {
			got = append(got, x.Subdir)
		}
		assert.Check(t, is.DeepEqual(got, want))
	}
	assert.Check(t, is.Len(r.auditLines(t), 0), "a read that succeeds is not audited")
}

func TestWorkspacePath(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt": "/home/agent/workspace/a.txt", "d/e": "/home/agent/workspace/d/e", "/home/agent/workspace/x/": "/home/agent/workspace/x",
		"./a": "/home/agent/workspace/a", "..": "", "a/../../b": "", "/etc/passwd": "", "/home/agent/workspace": "", "/home/agent/workspacex": "",
		"": "", "a\x00b": "", "/home/agent/shared/x": "",
	} {
		got, err := workspacePath(in, false)
		if want == "" {
			assert.Check(t, err != nil, "%q: %q", in, got)
			continue
		}
		assert.Check(t, is.Equal(got, want), in)
	}
	got, err := workspacePath(".", true)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, sandbox.WorkspaceTarget))
}

func TestTokenCovers(t *testing.T) {
	for _, tc := range []struct {
		pattern, subdir string
		want            bool
	}{
		{"team-a/*", "team-a/x", true},
		{"team-a/*", "team-a/x/y", false},
		{"team-a/*", "team-a", false},
		{"team-a/*", "team-ab/x", false},
		{"team-a/**", "team-a/x/y", true},
		{"team-a/**", "team-a", false},
		{"team-*/**", "team-b/x", true},
		{"**", "anything/at/all", true},
		{"alice", "alice", true},
		{"alice", "alice/x", false},
	} {
		tok := &Token{patterns: []string{tc.pattern}}
		assert.Check(t, is.Equal(tok.Covers(tc.subdir), tc.want), "%s ~ %s", tc.pattern, tc.subdir)
	}
}

func TestLoadTokensRefuses(t *testing.T) {
	ok := `{"name":"n","secret":"0123456789abcdef","workspaces":["a/*"],"verbs":["exec"]}`
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"group-writable":  {`{"tokens":[` + ok + `]}`, 0o620, "writable by others"},
		"world-readable":  {`{"tokens":[` + ok + `]}`, 0o604, "readable by everyone"},
		"a short secret":  {`{"tokens":[{"name":"n","secret":"short","workspaces":["a"],"verbs":["exec"]}]}`, 0o600, "at least 16"},
		"an unknown verb": {`{"tokens":[{"name":"n","secret":"0123456789abcdef","workspaces":["a"],"verbs":["run"]}]}`, 0o600, "unknown verb"},
		"no workspaces":   {`{"tokens":[{"name":"n","secret":"0123456789abcdef","verbs":["exec"]}]}`, 0o600, "at least one pattern"},
		"a bad pattern":   {`{"tokens":[{"name":"n","secret":"0123456789abcdef","workspaces":["../*"],"verbs":["exec"]}]}`, 0o600, "invalid pattern"},
		"a name twice":    {`{"tokens":[` + ok + `,` + strings.Replace(ok, "0123", "9999", 1) + `]}`, 0o600, "given twice"},
		"a secret twice":  {`{"tokens":[` + ok + `,` + strings.Replace(ok, `"n"`, `"m"`, 1) + `]}`, 0o600, "secret of another"},
		"an unknown key":  {`{"tokens":[{"name":"n","secret":"0123456789abcdef","workspaces":["a"],"verbs":["exec"],"privileged":true}]}`, 0o600, "unknown field"},
	} {
		p := filepath.Join(t.TempDir(), "tokens.json")
		assert.NilError(t, os.WriteFile(p, []byte(tc.body), 0o600))
		assert.NilError(t, os.Chmod(p, tc.mode))
		_, err := LoadTokens(p, nil)
		assert.Check(t, is.ErrorContains(err, tc.want), name)
	}
}

func TestLookup(t *testing.T) {
	past := time.Now().Add(-time.Minute)
	tokens, err := NewTokens([]TokenSpec{
		{Name: "live", Secret: "live-secret-0123456", Workspaces: []string{"**"}, Verbs: []string{"*"}},
		{Name: "old", Secret: "old-secret-01234567", Workspaces: []string{"**"}, Verbs: []string{"*"}, Expires: &past},
	}, nil)
	assert.NilError(t, err)
	tok, ok := tokens.Lookup("live-secret-0123456", time.Now())
	assert.Check(t, ok && tok.Name == "live")
	_, ok = tokens.Lookup("old-secret-01234567", time.Now())
	assert.Check(t, !ok, "an expired token")
	_, ok = tokens.Lookup("live-secret-012345", time.Now())
	assert.Check(t, !ok, "a prefix of a token")
}

// A token without the verb ensure never makes or wakes a workspace on its
// way to exec or copy: the workspace must run (409), and nothing is made.
func TestNoEnsureVerbNoWake(t *testing.T) {
	r := newRig(t)
	tokens, err := NewTokens([]TokenSpec{
		{Name: "cp", Secret: secretA, Workspaces: []string{"team-a/*"}, Verbs: []string{api.VerbCopy, api.VerbExec}},
	}, func(map[string]any) (sandbox.Config, error) { return testConfig, nil })
	assert.NilError(t, err)
	r.s.SetTokens(tokens)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/workspaces/team-a%2Fx/archive?path=.", ""},
		{"GET", "/v1/workspaces/team-a%2Fx/file?path=f", ""},
		{"POST", "/v1/workspaces/team-a%2Fx/exec", `{"cmd":["id"]}`},
	} {
		w := r.call(c.method, c.path, secretA, c.body)
		assert.Check(t, is.Equal(w.Code, 404), "%s: %s", c.path, w.Body.String())
	}
	assert.Check(t, !strings.Contains(r.f.Calls(), "create:"), "a workspace was made: %s", r.f.Calls())
}

// A buffered exec's output is JSON as encoding/json writes it, written a
// piece at a time, cut between runes.
func TestWriteExecResult(t *testing.T) {
	out := &capped{max: 1 << 20}
	_, _ = out.Write([]byte(strings.Repeat("é\x00\"\\", 9000) + "\xff"))
	errb := &capped{max: 4}
	_, _ = errb.Write([]byte("abcdef"))
	var b bytes.Buffer
	assert.NilError(t, writeExecResult(&b, 7, out, errb))
	var got api.ExecResult
	assert.NilError(t, json.Unmarshal(b.Bytes(), &got), b.String()[:200])
	want, _ := json.Marshal(api.ExecResult{ExitCode: 7, Stdout: out.buf.String(), Stderr: "abcd", Truncated: true})
	var wantR api.ExecResult
	assert.NilError(t, json.Unmarshal(want, &wantR))
	assert.Check(t, is.DeepEqual(got, wantR))
}

// An archive entry that would land outside, a sparse one, or more than the
// limit in all is refused.
func TestEntryCheck(t *testing.T) {
	check := entryCheck(100)
	assert.Check(t, check(&tar.Header{Name: "a/b", Size: 60}))
	assert.Check(t, is.ErrorContains(check(&tar.Header{Name: "c", Size: 60}), "limit of 100"))
	for _, h := range []*tar.Header{
		{Name: "../x"}, {Name: "/etc/x"}, {Name: "a/../../x"},
		{Name: "l", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"},
		{Name: "s", Typeflag: tar.TypeGNUSparse},
		{Name: "p", PAXRecords: map[string]string{"GNU.sparse.major": "1"}},
	} {
		assert.Check(t, entryCheck(-1)(h) != nil, h.Name)
	}
	assert.Check(t, entryCheck(-1)(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}), "a symbolic link's target is data")
}

// A token keeps at most maxReapersPerToken reapers; one over it starts its
// own again, and never another token's (the attack round: one token's
// calls reset every other's reaper).
func TestReapersPerToken(t *testing.T) {
	var rs reapers
	a, b := &Token{Name: "a"}, &Token{Name: "b"}
	mine := rs.get(reapKey{tok: a, idleFor: time.Minute}, func() sandbox.Reaper { return nil })
	for i := range maxReapersPerToken + 3 {
		rs.get(reapKey{tok: b, idleFor: time.Duration(i+2) * time.Minute}, func() sandbox.Reaper { return nil })
	}
	assert.Check(t, rs.get(reapKey{tok: a, idleFor: time.Minute}, func() sandbox.Reaper { return nil }) == mine, "another token's calls reset a's reaper")
	n := 0
	for k := range rs.m {
		if k.tok == b {
			n++
		}
	}
	assert.Check(t, n <= maxReapersPerToken, "%d reapers for one token", n)
}

// A token's buffered execs run 32 at once, 256 more wait, and one more is
// refused (429) at once; its streams are 64, and one more is refused (the
// attack round: queued calls held connections until the server's files ran
// out).
func TestSlotsAreBounded(t *testing.T) {
	var s slots
	tok := &Token{Name: "t"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range maxBufferedPerToken {
		_, err := s.take(ctx, tok, "buffered")
		assert.NilError(t, err)
	}
	started := make(chan struct{}, maxWaitingPerToken)
	for range maxWaitingPerToken {
		go func() {
			started <- struct{}{}
			_, _ = s.take(ctx, tok, "buffered")
		}()
	}
	for range maxWaitingPerToken {
		<-started
	}
	poll := func() int { s.mu.Lock(); defer s.mu.Unlock(); return s.m[slotKey{tok, "buffered"}].waiting }
	for poll() < maxWaitingPerToken {
		time.Sleep(time.Millisecond)
	}
	_, err := s.take(ctx, tok, "buffered")
	var ae *api.Error
	assert.Check(t, errors.As(err, &ae) && ae.Status == 429, "%v", err)
	for range maxStreamsPerToken {
		_, err := s.take(ctx, tok, "stream")
		assert.NilError(t, err)
	}
	_, err = s.take(ctx, tok, "stream")
	assert.Check(t, errors.As(err, &ae) && ae.Status == 429, "%v", err)
	_, err = s.take(ctx, &Token{Name: "other"}, "stream")
	assert.NilError(t, err, "another token's places are its own")
}
