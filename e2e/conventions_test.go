package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
)

// docker's conventions, as a user of docker ps, docker rm and docker run
// expects them.

// Every input is checked before the engine is asked anything: a bad one is
// one line naming its source, exit 125, and nothing is made.
func TestInputsAreCheckedFirst(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	for _, tc := range []struct {
		env  string
		args []string
		err  string
	}{
		{args: []string{"ensure", "--format", "{{.Name", a, b}, err: `invalid --format "{{.Name"`},
		{args: []string{"ensure", "--format", "{{.Nmae}}", a}, err: `can't evaluate field Nmae`},
		{env: "GATEWAY_WORKSPACE_MEMORY=lots", args: []string{"ensure", a}, err: `GATEWAY_WORKSPACE_MEMORY: invalid memory limit "lots"`},
		{args: []string{"ensure", "--api-timeout", "0s", a}, err: `--api-timeout: invalid duration "0s"`},
		{args: []string{"ls", "--pull", "bogus"}, err: `--pull: invalid pull policy "bogus"`},
		{args: []string{"ls", "--mount-mode", "wrong"}, err: `--mount-mode: invalid mount mode "wrong"`},
		{args: []string{"ls", "--filter", "colour=red"}, err: `invalid filter 'colour'`},
		{args: []string{"doctor", "--format", "{{.Nmae}}"}, err: `invalid --format "{{.Nmae}}"`},
		{args: []string{"stop", "--timeout", "-2", a}, err: `invalid --timeout -2`},
		{args: []string{"stop", "--signal", "SIGBOGUS", a}, err: `invalid --signal "SIGBOGUS"`},
	} {
		hh := h
		if tc.env != "" {
			hh = h.withEnv(tc.env)
		}
		res := hh.ws(tc.args...)
		res.Assert(t, icmd.Expected{ExitCode: 125, Err: tc.err})
		assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "not one line: %q", res.Stderr())
	}
	assert.Check(t, !h.exists("modern", containerName(a)))
	assert.Check(t, !h.exists("modern", containerName(b)))
	// Checked before the engine: even where there is none.
	h.withEnv("DOCKER_HOST=unix:///nonexistent.sock").ws("doctor", "--format", "{{.Nmae}}").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid --format "{{.Nmae}}"`})
	// A context the store does not have: said once (fourth new-user pass:
	// three times).
	for _, args := range [][]string{{"ls"}, {"ensure", a}} {
		res := h.docker(append([]string{"--context", "e2e-nope-" + h.id, "workspace"}, args...)...)
		res.Assert(t, icmd.Expected{ExitCode: 1, Err: `unable to resolve docker endpoint: context "e2e-nope-` + h.id + `"`})
		assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "not one line: %q", res.Stderr())
	}

	// --format table works wherever --format is offered.
	res := h.ws("ensure", "--format", "table", a)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "SUBDIR"))
	assert.Check(t, is.Contains(res.Stdout(), containerName(a)))
	// A table says IDs as docker ps does: 12 digits (issue 22, Low).
	assert.Check(t, is.Regexp(` [0-9a-f]{12}\n$`, res.Stdout()))
}

// stop and rm take what ls prints: IDs and names; rm -f of what is gone is
// silent, a name or ID of nothing is an error.
func TestWorkspacesByNameAndID(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	h.ws("ensure", a, b).Assert(t, icmd.Success)
	h.ws("stop", "-t", "0", containerName(a)).Assert(t, icmd.Expected{Out: containerName(a)})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(a)).State.Status, "exited"))

	ids := strings.Fields(h.ws("ls", "-q", "--filter", "subdir="+a, "--filter", "subdir="+b).Assert(t, icmd.Success).Stdout())
	assert.Assert(t, is.Len(ids, 2))
	// A short prefix of an ID is not guessed, and not "nothing to stop"
	// either (issue 22, 6).
	h.ws("stop", ids[1][:8]).Assert(t, icmd.Expected{ExitCode: 1, Err: "is the start of the ID of gws-"})
	// An ID where a subdir goes (exec, ensure) is refused, naming the
	// workspace: it would make a new workspace of that name (new-user
	// pass 17).
	h.ws("exec", ids[0], "true").Assert(t, icmd.Expected{ExitCode: 125, Err: ids[0] + " is the container of workspace"})
	h.ws("ensure", ids[0]).Assert(t, icmd.Expected{ExitCode: 125, Err: ids[0] + " is the container of workspace"})
	assert.Check(t, !h.exists("modern", containerName(ids[0])))
	h.ws(append([]string{"rm", "-f"}, ids...)...).Assert(t, icmd.Expected{Out: strings.Join(ids, "\n")})
	assert.Check(t, !h.exists("modern", containerName(a)))
	assert.Check(t, !h.exists("modern", containerName(b)))
	h.ws(append([]string{"rm", "-f"}, ids...)...).Assert(t, icmd.Expected{Out: "", Err: ""})
	h.ws("rm", ids[0]).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: " + ids[0]})
	h.ws("stop", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: " + containerName(a)})
	h.ws("stop", a).Assert(t, icmd.Expected{ExitCode: 0, Err: "has no container: nothing to stop"})
}

// ls --filter with docker ps's keys and the workspace's own; the template
// fields docker ps users type.
func TestListFiltersAndFields(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	h.ws("ensure", "--label", "team=blue", a).Assert(t, icmd.Success)
	h.ws("ensure", b).Assert(t, icmd.Success)
	h.ws("stop", "-t", "0", b).Assert(t, icmd.Success)
	ls := func(args ...string) string {
		t.Helper()
		return h.ws(append([]string{"ls", "--format", "{{.Subdir}}"}, args...)...).Assert(t, icmd.Success).Stdout()
	}
	assert.Check(t, is.Equal(ls("--filter", "label=team=blue"), a+"\n"))
	assert.Check(t, is.Equal(ls("--filter", "name="+containerName(b)), b+"\n"))
	assert.Check(t, is.Equal(ls("--filter", "status=exited", "--filter", "subdir="+a, "--filter", "subdir="+b), b+"\n"))
	assert.Check(t, is.Equal(ls("--filter", "subdir="+a, "--filter", "mode=volume_subpath"), ""))
	assert.Check(t, is.Equal(ls("--filter", "subdir="+a, "--filter", "drift=no"), a+"\n"))
	id := h.inspect("modern", containerName(a)).ID
	assert.Check(t, is.Equal(ls("--filter", "id="+id[:12]), a+"\n"))
	h.ws("ls", "--filter", "subdir="+a, "--format", `{{.Names}} {{.Label "team"}}`).Assert(t, icmd.Expected{Out: containerName(a) + " blue"})
	res := h.ws("ls", "--filter", "subdir="+a, "--no-trunc", "--format", "{{.ID}}").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), id))
}

// DRIFT tells what changed under a container; a container just made shows
// none, whoever made it, and on every kind of endpoint.
func TestDriftMeansSomething(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", "--profile", "hardened", "--memory", "64m", s).Assert(t, icmd.Success)
	for _, ctx := range []string{"modern", "tls", "ssh"} {
		requireEngine(t, ctx)
		res := h.docker("--context", ctx, "workspace", "ls", "--filter", "subdir="+s, "--format", "{{.Subdir}} {{.Drift}}")
		res.Assert(t, icmd.Expected{Out: s + " []"})
	}
	// With the configuration asked for: what differs from it.
	h.ws("ls", "--check-config", "--filter", "subdir="+s, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[limits read-only capabilities security-opt]"})
	h.ws("ls", "--profile", "hardened", "--memory", "64m", "--filter", "subdir="+s, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[]"})

	// The tag it was made from moved to another image (issue 22, 4): the
	// engine lists the container's image by its ID; the drift is told.
	img := "e2e/drift:" + h.id
	build := func(v string) {
		dir := fs.NewDir(t, "img", fs.WithFile("Dockerfile", "FROM "+image+"\nLABEL e2e.v="+v+"\n"))
		h.withEnv("DOCKER_BUILDKIT=0").docker("build", "-q", "-t", img, dir.Path()).Assert(t, icmd.Success)
	}
	build("1")
	t.Cleanup(func() { h.docker("rmi", "-f", img) })
	d := h.subdir("-img")
	h.ws("ensure", "--image", img, d).Assert(t, icmd.Success)
	h.ws("ls", "--filter", "subdir="+d, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[]"})
	build("2")
	h.ws("ls", "--filter", "subdir="+d, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[image]"})
	h.ws("ls", "--filter", "subdir="+d).Assert(t, icmd.Expected{Out: "image"})
}

// --all-contexts shows each engine once, with the contexts that reach it.
func TestAllContextsShowsEachEngineOnce(t *testing.T) {
	requireEngine(t, "modern")
	requireEngine(t, "tls")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	res := h.ws("ls", "--all-contexts", "--filter", "subdir="+s, "--format", "{{.Context}}")
	res.Assert(t, icmd.Success)
	lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
	assert.Assert(t, is.Len(lines, 1), "listed more than once: %v", lines)
	for _, ctx := range []string{"modern", "tls", "ssh"} {
		assert.Check(t, is.Contains(lines[0], ctx))
	}
	assert.Check(t, !strings.Contains(lines[0], "legacy"))

	// events too: each event once, though several contexts tell it (issue 19).
	since := time.Now()
	h.ws("stop", s).Assert(t, icmd.Success)
	res = h.ws("events", "--all-contexts", "--since", since.Format(time.RFC3339Nano), "--until", time.Now().Add(time.Second).Format(time.RFC3339Nano),
		"--filter", "subdir="+s, "--format", "{{.Kind}} {{.Context}}")
	res.Assert(t, icmd.Success)
	lines = strings.Split(strings.TrimSpace(res.Stdout()), "\n")
	assert.Assert(t, is.Len(lines, 1), "told more than once, or not: %v", lines)
	assert.Check(t, is.Regexp(`^stopped (default|modern|tls|ssh)$`, lines[0]))
}

// Help as docker prints it, completion as docker run's.
func TestHelpAndCompletion(t *testing.T) {
	h := newHarness(t)
	rm := h.ws("rm", "--help").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Contains(rm, "  -f, --force "))
	assert.Check(t, !strings.Contains(rm, "[=true|false]"))
	stop := h.ws("stop", "--help").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Contains(stop, "-t, --timeout int"))
	assert.Check(t, is.Contains(stop, "-s, --signal string"))
	assert.Check(t, !strings.Contains(stop, "--time "), "the deprecated --time is shown")
	ensure := h.ws("ensure", "--help").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Contains(ensure, "Environment variables"))
	assert.Check(t, is.Contains(ensure, "GATEWAY_WORKSPACE_MEMORY"))
	assert.Check(t, !strings.Contains(h.ws("ls", "--help").Assert(t, icmd.Success).Stdout(), "--memory"), "ls --help lists ensure's flags")

	complete := func(args ...string) []string {
		t.Helper()
		out := h.docker(append([]string{"__complete", "workspace"}, args...)...).Assert(t, icmd.Success).Stdout()
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	assert.Check(t, is.DeepEqual(complete("ensure", "--pull", ""), []string{"missing", "always", "never", ":4"}))
	assert.Check(t, is.DeepEqual(complete("ensure", "--mount-mode", ""), []string{"bind", "volume_subpath", ":4"}))
	assert.Check(t, is.DeepEqual(complete("ensure", "--recreate", ""), []string{"never", "if-changed", "always", ":4"}))
	assert.Check(t, is.Contains(complete("ensure", "--profile", ""), "hardened"))
	requireEngine(t, "modern")
	assert.Check(t, is.Contains(complete("ensure", "--network", ""), "bridge"))
	assert.Check(t, is.Contains(complete("ensure", "--image", ""), image))
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	assert.Check(t, is.Contains(complete("stop", ""), s))
}

// An unknown key under plugins.workspace (a typo) is said, not ignored.
func TestUnknownConfigKey(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	b, err := os.ReadFile(filepath.Join(env.configDir, "config.json"))
	assert.NilError(t, err)
	var cfg map[string]any
	assert.NilError(t, json.Unmarshal(b, &cfg))
	cfg["plugins"] = map[string]any{"workspace": map[string]string{"imgae": "x/y"}}
	dir := t.TempDir()
	b, err = json.Marshal(cfg)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	assert.NilError(t, os.CopyFS(filepath.Join(dir, "contexts"), os.DirFS(filepath.Join(env.configDir, "contexts"))))
	res := h.docker("--config", dir, "workspace", "ls", "-q")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), `unknown key "imgae" in the plugins.workspace section`))
}

// Several workspaces and one missing image: one pull, one progress.
func TestOnePullForManyWorkspaces(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b, c := h.subdir("-a"), h.subdir("-b"), h.subdir("-c")
	res := h.ws("ensure", "--image", "e2e/nowhere:"+h.id, a, b, c)
	res.Assert(t, icmd.Expected{ExitCode: 1})
	// Pulled (tried) once, and said once for all three.
	assert.Check(t, is.Equal(strings.Count(res.Stderr(), "pull image e2e/nowhere:"+h.id), 1), res.Stderr())
	assert.Check(t, is.Contains(res.Stderr(), `workspaces "`+a+`", "`+b+`", "`+c+`": pull image e2e/nowhere:`+h.id))
}

// The docker CLI asks the plugin for its metadata before every command: the
// answer is the plugin's (docker info shows its version), and on
// linux/amd64 the binary gives it before the Go runtime starts (GODEBUG's
// trace of package initialisation, which the runtime would write, is empty).
// The run that follows builds the command it runs; help still lists all.
func TestPluginMetadata(t *testing.T) {
	h := newHarness(t)
	version := strings.Fields(h.ws("version").Assert(t, icmd.Success).Stdout())[2]
	version = strings.TrimSuffix(version, ",")
	plugins := h.docker("info", "--format", "{{json .ClientInfo.Plugins}}").Assert(t, icmd.Success).Stdout()
	var listed []struct{ Name, Vendor, Version, ShortDescription, Err string }
	assert.NilError(t, json.Unmarshal([]byte(plugins), &listed))
	var found bool
	for _, p := range listed {
		if p.Name == "workspace" {
			found = true
			assert.Check(t, is.Equal(p.Err, ""))
			assert.Check(t, is.Equal(p.Vendor, "docker-workspace"))
			assert.Check(t, is.Equal(p.Version, version))
			assert.Check(t, is.Equal(p.ShortDescription, "Manage workspace sandbox containers"))
		}
	}
	assert.Check(t, found, "docker info lists no workspace plugin: %s", plugins)

	bin := filepath.Join(env.configDir, "plugins", "docker-workspace")
	res := icmd.RunCmd(icmd.Command(bin, "docker-cli-plugin-metadata"), icmd.WithEnv(h.env...))
	res.Assert(t, icmd.Success)
	var meta map[string]string
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &meta), res.Stdout())
	assert.Check(t, is.DeepEqual(meta, map[string]string{
		"SchemaVersion":    "0.1.0",
		"Vendor":           "docker-workspace",
		"Version":          version,
		"ShortDescription": "Manage workspace sandbox containers",
		"URL":              "https://github.com/docker-workspace/docker-workspace",
	}))

	help := h.ws("--help").Assert(t, icmd.Success).Stdout()
	for _, c := range []string{"ensure", "stop", "rm", "ls", "doctor", "version", "exec", "shell", "cp", "inspect", "restart", "prune", "reap"} {
		assert.Check(t, is.Contains(help, "\n  "+c+" "), "help lists no %s", c)
	}
}

// exec's help is about exec, as docker exec's is (issue 22, 11): ensure's
// configuration flags are taken and said, listed with ensure; sizes,
// durations and decimals say so.
func TestHelpIsAboutTheCommand(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"exec", "shell", "rm"} {
		help := h.ws(cmd, "--help").Assert(t, icmd.Success).Stdout()
		assert.Check(t, len(strings.Split(help, "\n")) < 45, "%s --help has %d lines", cmd, len(strings.Split(help, "\n")))
		assert.Check(t, is.Contains(help, "It takes ensure's configuration flags too"), cmd)
		assert.Check(t, !strings.Contains(help, "--volume-opt"), cmd)
	}
	help := h.ws("ensure", "--help").Assert(t, icmd.Success).Stdout()
	for _, typed := range []string{"--api-timeout duration", "--memory bytes", "--cpus decimal", "--volume-opt"} {
		assert.Check(t, is.Contains(help, typed))
	}
	// Hidden, still taken.
	h.ws("exec", "--image", "no/such:image", "--pull", "never", h.subdir(""), "true").Assert(t, icmd.Expected{ExitCode: 1, Err: "no/such:image"})
}
