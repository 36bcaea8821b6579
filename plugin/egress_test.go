package plugin

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// egressEngine holds alice (allowlist, running, her proxy running), bob
// (open) and carol (public, stopped with her proxy).
func egressEngine() *sandboxtest.Engine {
	f := sandboxtest.NewEngine()
	f.ServeEgressProxies()
	for _, w := range []struct {
		subdir string
		mode   egress.Mode
		state  container.ContainerState
		policy string
	}{
		{"alice", egress.ModeAllowlist, container.StateRunning, `{"mode":"allowlist","allow":["10.0.0.0/8:5432","example.com"],"deny":["bad.example.com"]}`},
		{"bob", egress.ModeOpen, container.StateRunning, ""},
		{"carol", egress.ModePublic, container.StateExited, `{"mode":"public"}`},
	} {
		spec := sandbox.SpecFor(w.subdir, sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, Egress: w.mode}, sandboxtest.ImageID)
		f.Add(sandbox.ContainerName(w.subdir), w.state, container.Config{Image: sandbox.DefaultImage, Labels: map[string]string{
			sandbox.LabelSubdir: w.subdir, sandbox.LabelMode: "bind", sandbox.LabelConfig: spec.JSON(), sandbox.LabelConfigHash: spec.Hash(),
		}}, container.HostConfig{})
		if w.policy != "" {
			f.Add("gws.egress."+w.subdir, w.state, container.Config{Cmd: []string{"serve", "--policy", w.policy},
				Labels: map[string]string{sandbox.LabelEgress: "proxy", sandbox.LabelEgressOf: w.subdir}}, container.HostConfig{})
		}
	}
	f.Logs = map[string]string{"gws.egress.alice": "egress-proxy: serving\n" +
		`{"time":"2026-12-03T11:35:26.5Z","workspace":"alice","kind":"dns","host":"example.org","decision":"deny","reason":"no rule allows it"}` + "\n" +
		`{"time":"2026-12-03T11:35:27Z","workspace":"alice","kind":"tls","host":"example.com","port":443,"decision":"allow","rule":"example.com"}` + "\n"}
	f.CallLog = nil
	return f
}

// Without a name, egress ls lists every workspace: a row per rule, the
// mode alone without rules; a stopped proxy's rules are not shown, and
// it says so on stderr.
func TestEgressListAll(t *testing.T) {
	c := newTestCLI(t, egressEngine(), "")
	assert.NilError(t, c.run("egress", "ls"))
	assert.Check(t, is.Equal(c.out.String(), strings.Join([]string{
		"WORKSPACE   MODE        DECISION   RULE",
		"alice       allowlist   allow      10.0.0.0/8:5432",
		"alice       allowlist   allow      example.com",
		"alice       allowlist   deny       bad.example.com",
		"bob         open        -          -",
		"carol       public      -          -",
		"",
	}, "\n")))
	assert.Check(t, is.Contains(c.err.String(), `warning: workspace "carol": `))
	assert.Check(t, is.Contains(c.err.String(), "its egress proxy is stopped (gws.egress.carol); an ensure starts it: its rules are not shown"))

	c = newTestCLI(t, egressEngine(), "")
	assert.NilError(t, c.run("egress", "ls", "--format", "json", "alice"))
	got := jsonLines(t, c.out.String())
	assert.Assert(t, is.Len(got, 1))
	assert.Check(t, is.Equal(got[0]["Proxy"], "gws.egress.alice"))
	assert.Check(t, is.Equal(got[0]["Network"], "gws.net.alice"))
}

// allow and deny change the rules in force at once; a bad rule changes
// nothing; open mode has no rules to change.
func TestEgressChange(t *testing.T) {
	f := egressEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("egress", "deny", "alice", "example.com"))
	c = newTestCLI(t, f, "")
	assert.NilError(t, c.run("egress", "ls", "--format", "{{.Decision}} {{.Rule}}", "alice"))
	assert.Check(t, is.Equal(c.out.String(), "allow 10.0.0.0/8:5432\ndeny bad.example.com\ndeny example.com\n"))

	c = newTestCLI(t, f, "")
	err := c.run("egress", "allow", "alice", "exa_mple.com")
	assert.Check(t, is.ErrorContains(err, `invalid rule "exa_mple.com"`))
	c = newTestCLI(t, f, "")
	err = c.run("egress", "allow", "bob", "example.com")
	assert.Check(t, is.ErrorContains(err, "is in egress mode open: it has no egress proxy"))
}

// egress log prints the proxy's decisions (not its other words), a line
// each, or as JSON.
func TestEgressLog(t *testing.T) {
	c := newTestCLI(t, egressEngine(), "")
	assert.NilError(t, c.run("egress", "log", "alice"))
	assert.Check(t, is.Equal(c.out.String(),
		"2026-12-03T11:35:26.5Z alice dns example.org deny reason=\"no rule allows it\"\n"+
			"2026-12-03T11:35:27Z alice tls example.com:443 allow rule=example.com\n"))
	c = newTestCLI(t, egressEngine(), "")
	assert.NilError(t, c.run("egress", "log", "--format", "json", "alice"))
	lines := jsonLines(t, c.out.String())
	assert.Assert(t, is.Len(lines, 2))
	// docker's capitalised keys, as the template's fields (second
	// new-user pass: jq .Decision was null).
	assert.Check(t, is.Equal(lines[1]["Decision"], "allow"))
	assert.Check(t, is.Equal(lines[1]["Host"], "example.com"))
	assert.Check(t, is.Equal(lines[0]["Reason"], "no rule allows it"))
	c = newTestCLI(t, egressEngine(), "")
	assert.Check(t, is.ErrorContains(c.run("egress", "log", "bob"), "is in egress mode open: it has no egress proxy"))
}

// ls says each workspace's egress, and warns of one that shares the
// operator's network.
func TestListEgress(t *testing.T) {
	f := egressEngine()
	spec := sandbox.SpecFor("dave", sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, Network: "net1"}, sandboxtest.ImageID)
	f.Add("gws-dave", container.StateRunning, container.Config{Image: sandbox.DefaultImage, Labels: map[string]string{
		sandbox.LabelSubdir: "dave", sandbox.LabelMode: "bind", sandbox.LabelConfig: spec.JSON(), sandbox.LabelConfigHash: spec.Hash(),
	}}, container.HostConfig{})
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ls", "--format", "table {{.Subdir}}\t{{.Egress}}"))
	assert.Check(t, is.Equal(c.out.String(), strings.Join([]string{
		"SUBDIR    EGRESS",
		"alice     allowlist",
		"bob       open",
		"carol     public",
		"dave      open (network net1)",
		"",
	}, "\n")))
	assert.Check(t, is.Equal(c.err.String(), `warning: workspace "dave" (container gws-dave): it is on network net1 (the operator's): `+
		"the containers on that network reach it, and it them\n"))
}

// exec --privileged would give a command raw frames on a proxied
// workspace's network: refused, from what the workspace recorded.
func TestExecPrivilegedIsRefusedInAProxiedWorkspace(t *testing.T) {
	f := egressEngine()
	c := newTestCLI(t, f, "")
	err := c.run("exec", "--no-ensure", "--privileged", "alice", "true")
	assert.Check(t, is.ErrorContains(err, "--privileged is refused: the workspace is in egress mode allowlist"))
	assert.Check(t, !strings.Contains(f.Calls(), "exec:"), f.Calls())
	// Without --no-ensure, refused before it is ensured (new-user pass 13).
	f.CallLog = nil
	err = c.run("exec", "--privileged", "alice", "true")
	assert.Check(t, is.ErrorContains(err, "--privileged is refused: the workspace is in egress mode allowlist"))
	assert.Check(t, is.Equal(exitCode(err), 125))
	assert.Check(t, !strings.Contains(f.Calls(), "inspect:gws-alice"), "ensured first: %s", f.Calls())
}
