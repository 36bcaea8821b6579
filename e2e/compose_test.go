package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// exampleCompose is the example dev setup of the repository.
var exampleCompose, _ = filepath.Abs("../compose/compose.yaml")

// composeRun runs `docker compose` as a user would: the plugin and contexts
// come from DOCKER_CONFIG (which Compose and the provider it runs both read).
func (h *harness) compose(project string, args ...string) *icmd.Result {
	h.t.Helper()
	return h.composeOn("", project, args...)
}

// composeOn is compose with `docker --context ctx` (none when ctx is empty):
// Compose runs there, and does not tell its providers.
func (h *harness) composeOn(ctx, project string, args ...string) *icmd.Result {
	h.t.Helper()
	var global []string
	if ctx != "" {
		global = []string{"--context", ctx}
	}
	cmd := icmd.Command("docker", append(append(global, "compose", "-p", project), args...)...)
	return icmd.RunCmd(cmd, icmd.WithEnv(append(h.env, "DOCKER_CONFIG="+env.configDir)...))
}

// providerFile writes a compose file with one workspace provider service
// "ws" with these options (YAML lines), and more services after it.
func providerFile(t *testing.T, options []string, more string) string {
	t.Helper()
	yaml := "services:\n  ws:\n    provider:\n      type: workspace\n      options:\n"
	for _, o := range options {
		yaml += "        " + o + "\n"
	}
	return fs.NewFile(t, "compose", fs.WithContent(yaml+more)).Path()
}

// composeProject returns a project name unique to the test, whose
// containers, volumes and networks are removed when it ends.
func (h *harness) composeProject(ctx string, file string) string {
	h.t.Helper()
	project := "e2e-" + h.id
	h.t.Cleanup(func() {
		h.withEnv("DOCKER_CONTEXT="+ctx).compose(project, "-f", file, "down", "-v", "-t", "0")
		for _, c := range []string{"modern", "legacy"} {
			ids := h.docker("--context", c, "ps", "-aq", "--filter", "label=docker-workspace.compose-project="+project).Stdout()
			if f := strings.Fields(ids); len(f) > 0 {
				h.docker(append([]string{"--context", c, "rm", "-f"}, f...)...)
			}
		}
	})
	return project
}

func TestComposeExampleSetup(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	alice, bob := h.subdir("-alice"), h.subdir("-bob")+"/src"
	h = h.withEnv("ALICE_SUBDIR="+alice, "BOB_SUBDIR="+bob)
	project := h.composeProject("modern", exampleCompose)

	res := h.compose(project, "-f", exampleCompose, "up", "-d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), containerName(alice)+" created"))
	t.Log(res.Combined())

	for _, s := range []string{alice, bob} {
		c := h.inspect("modern", containerName(s))
		assert.Check(t, is.Equal(c.State.Status, "running"))
		assert.Check(t, is.Equal(c.Config.Labels["docker-workspace.compose-project"], project))
		assert.Check(t, is.Equal(c.Config.Labels["docker-workspace.subdir"], s))
		typ, vol, _, _ := c.mountAt(t, "/home/agent/workspace")
		assert.Check(t, is.Equal(typ, "volume"))
		assert.Check(t, is.Equal(vol, project+"_workspaces"), "the short name was not resolved to the project's volume")
		_, vol, _, _ = c.mountAt(t, "/home/agent/shared")
		assert.Check(t, is.Equal(vol, project+"_shared"))
		h.docker("inspect", "--format", "{{range .HostConfig.Mounts}}{{if .VolumeOptions}}{{.VolumeOptions.Subpath}}{{end}}{{end}}", containerName(s)).
			Assert(t, icmd.Expected{Out: s})
		// profile: hardened, from the YAML.
		h.docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}", containerName(s)).
			Assert(t, icmd.Expected{Out: "true [ALL]"})
	}

	// The dependent service received the workspaces' variables.
	shell := strings.TrimSpace(h.compose(project, "-f", exampleCompose, "ps", "-q", "shell").Assert(t, icmd.Success).Stdout())
	envOut := h.docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", shell).Assert(t, icmd.Success).Stdout()
	aliceID := h.inspect("modern", containerName(alice)).ID
	for _, kv := range []string{
		"ALICE_CONTAINER_NAME=" + containerName(alice), "ALICE_CONTAINER_ID=" + aliceID, "ALICE_SUBDIR=" + alice,
		"BOB_CONTAINER_NAME=" + containerName(bob), "BOB_SUBDIR=" + bob, "BOB_MODE=volume_subpath",
	} {
		assert.Check(t, is.Contains(envOut, kv+"\n"))
	}

	// Workspaces see only their own data; the gateway sees all.
	h.docker("exec", containerName(alice), "sh", "-c", "echo from-alice > /home/agent/workspace/note").Assert(t, icmd.Success)
	h.docker("exec", containerName(bob), "ls", "-A", "/home/agent/workspace").Assert(t, icmd.Expected{Out: ""})
	gateway := strings.TrimSpace(h.compose(project, "-f", exampleCompose, "ps", "-q", "gateway").Stdout())
	h.docker("exec", gateway, "cat", "/srv/workspaces/"+alice+"/note").Assert(t, icmd.Expected{Out: "from-alice"})

	// A second up changes nothing.
	before := h.inspect("modern", containerName(alice))
	res = h.compose(project, "-f", exampleCompose, "up", "-d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), containerName(alice)+" running"))
	after := h.inspect("modern", containerName(alice))
	assert.Check(t, is.Equal(after.ID, before.ID))
	assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt))

	// ls can filter by project.
	ls := h.ws("ls", "--compose-project", project, "--format", "{{.Subdir}} {{.Project}}").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Equal(ls, alice+" "+project+"\n"+bob+" "+project+"\n"))

	// A workspace of the project made by the CLI: "default" is the
	// project's default network, never the engine's bridge (issue 22,
	// new-user pass).
	carol := h.subdir("-carol")
	h.ws("ensure", "--compose-project", project, "--mount-mode", "volume_subpath", "--workspace-volume", "workspaces",
		"--shared-volume", "shared", "--network", "default", carol).Assert(t, icmd.Success)
	h.docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", containerName(carol)).
		Assert(t, icmd.Expected{Out: project + "_default "})
	h.ws("rm", "-f", carol).Assert(t, icmd.Success)

	// down removes the workspace containers, and keeps volumes and data.
	h.compose(project, "-f", exampleCompose, "down").Assert(t, icmd.Success)
	assert.Check(t, !h.exists("modern", containerName(alice)))
	assert.Check(t, !h.exists("modern", containerName(bob)))
	h.docker("volume", "inspect", project+"_workspaces").Assert(t, icmd.Success)
	h.docker("run", "--rm", "-v", project+"_workspaces:/v", image, "cat", "/v/"+alice+"/note").Assert(t, icmd.Expected{Out: "from-alice"})
}

// down touches only the project's own workspace containers.
func TestComposeDownLeavesOthersAlone(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	file := providerFile(t, []string{"subdir: " + s}, "")
	project := h.composeProject("modern", file)
	// Made by hand, not for the project.
	id := strings.TrimSpace(h.ws("ensure", s).Assert(t, icmd.Success).Stdout())
	res := h.compose(project, "-f", file, "down")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "nothing to remove"))
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id))

	// Nor does up take it for the service's (issue 22, 3): a hardened
	// service would run in the plain container. Refused; it stays as it is.
	hardened := providerFile(t, []string{"subdir: " + s, "profile: hardened"}, "")
	res = h.compose(project, "-f", hardened, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Combined(), "was not made for Compose project"), res.Combined())
	// ... and it says what to do (new-user pass 5, Low).
	assert.Check(t, is.Contains(res.Combined(), "docker workspace rm -f "+s+"` (its data stays), then up again"), res.Combined())
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id))
	h.docker("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", containerName(s)).Assert(t, icmd.Expected{Out: "false"})

	// Nor one an ensure made for the project (ensure --compose-project):
	// only the service's own provider makes its container (issue 22,
	// pass 17).
	h.ws("rm", "-f", s).Assert(t, icmd.Success)
	id = strings.TrimSpace(h.ws("ensure", "--compose-project", project, s).Assert(t, icmd.Success).Stdout())
	res = h.compose(project, "-f", hardened, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Combined(), `outside Compose (by docker workspace ensure), not by its service "ws"`), res.Combined())
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id))
	h.docker("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", containerName(s)).Assert(t, icmd.Expected{Out: "false"})

	// And the container its service made is replaced by none but it.
	h.ws("rm", "-f", s).Assert(t, icmd.Success)
	h.compose(project, "-f", hardened, "up", "-d").Assert(t, icmd.Success)
	id = h.inspect("modern", containerName(s)).ID
	res = h.ws("ensure", "--compose-project", project, "--recreate", "always", s)
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: `was made by service "ws" of Compose project "` + project + `": an ensure outside the service does not replace it`})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id))
	h.docker("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", containerName(s)).Assert(t, icmd.Expected{Out: "true"})
}

// The provider's stop (which Compose newer than 2.40 calls on `compose
// stop`; run here as Compose runs it) of one project leaves another
// project's workspace of the same subdir running, and stops its own.
func TestComposeStopHonoursTheProject(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	file := providerFile(t, []string{"subdir: " + s}, "  app:\n    image: "+image+"\n    command: [\"sleep\", \"infinity\"]\n")
	project := h.composeProject("modern", file)
	h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	provider := func(project string) *icmd.Result {
		cmd := icmd.Command(filepath.Join(env.configDir, "plugins", "docker-workspace"), "compose", "--project-name="+project, "stop", "--subdir="+s, "ws")
		return icmd.RunCmd(cmd, icmd.WithEnv(append(h.env, "DOCKER_CONFIG="+env.configDir)...))
	}
	provider(project+"-other").Assert(t, icmd.Expected{Out: `nothing to stop`})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"), "another project stopped it")
	provider(project).Assert(t, icmd.Expected{Out: `"stopped ` + containerName(s) + `"`})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "exited"))
}

func TestComposeMissingSubdir(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	file := providerFile(t, []string{"image: agent/workspace:latest"}, "")
	project := h.composeProject("modern", file)
	res := h.compose(project, "-f", file, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: `required parameter "subdir" is missing`})

	// A bad value names the service's option, as the YAML says it (issue
	// 22, 9); nothing is made.
	s := h.subdir("")
	bad := providerFile(t, []string{"subdir: " + s, "pull: sometimes"}, "")
	res = h.compose(h.composeProject("modern", bad), "-f", bad, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	out := strings.ReplaceAll(res.Combined(), `\"`, `"`) // as Compose quotes the provider's message, or not
	assert.Check(t, is.Contains(out, `option "pull" of the service: invalid pull policy "sometimes"`))
	assert.Check(t, !h.exists("modern", containerName(s)))

	// A misspelt mount-mode (Compose drops the unknown key) leaves volume
	// options in bind mode: refused, never a bind workspace on the host's
	// root (second new-user pass).
	typo := providerFile(t, []string{"subdir: " + s, "mount-mod: volume_subpath", "workspace-volume: workspaces", "shared-volume: shared"}, "")
	res = h.compose(h.composeProject("modern", typo), "-f", typo, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	out = strings.ReplaceAll(res.Combined(), `\"`, `"`)
	assert.Check(t, is.Contains(out, `a setting of volume_subpath mode, and the mount mode is bind`))
	assert.Check(t, !h.exists("modern", containerName(s)))
}

// Compose on the legacy engine (DOCKER_CONTEXT reaches the provider): the
// provider refuses volume_subpath there, and Compose fails with its words.
func TestComposeVolumeSubpathOnLegacy(t *testing.T) {
	requireEngine(t, "legacy")
	h := newHarness(t)
	alice, bob := h.subdir("-alice"), h.subdir("-bob")
	h = h.withEnv("ALICE_SUBDIR="+alice, "BOB_SUBDIR="+bob, "DOCKER_CONTEXT=legacy")
	project := h.composeProject("legacy", exampleCompose)
	res := h.compose(project, "-f", exampleCompose, "up", "-d")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "volume_subpath mode needs Docker Engine API 1.45 or later (Engine 26+), but this engine speaks API 1.41"})
	assert.Check(t, !h.exists("legacy", containerName(alice)))
	assert.Check(t, !h.exists("modern", containerName(alice)))
}

// `docker --context legacy compose up`: Compose runs on legacy and does not
// tell its provider; the provider reads it where Compose was run, and goes
// there too (issue 22, 7).
func TestComposeFollowsTheDockerContext(t *testing.T) {
	requireEngine(t, "legacy")
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	file := providerFile(t, []string{"subdir: " + s, "workspace-root: " + root.Path()},
		"  app:\n    image: agent/workspace:latest\n    depends_on: [ws]\n    command: [\"sleep\", \"infinity\"]\n")
	project := h.composeProject("legacy", file)
	h.composeOn("legacy", project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	assert.Check(t, h.exists("legacy", containerName(s)))
	assert.Check(t, !h.exists("modern", containerName(s)))
}

// The provider's context option takes it to the project's engine.
func TestComposeContextOption(t *testing.T) {
	requireEngine(t, "legacy")
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	file := providerFile(t, []string{"subdir: " + s, "context: legacy", "workspace-root: " + root.Path()},
		"  app:\n    image: agent/workspace:latest\n    depends_on: [ws]\n    command: [\"sleep\", \"infinity\"]\n")
	project := h.composeProject("legacy", file)
	res := h.composeOn("legacy", project, "-f", file, "up", "-d")
	res.Assert(t, icmd.Success)
	assert.Check(t, h.exists("legacy", containerName(s)))
	assert.Check(t, !h.exists("modern", containerName(s)))
	_, _, src, _ := h.inspect("legacy", containerName(s)).mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(src, filepath.Join(root.Path(), s)))
}

// The reaper runs as a Compose service: the service commented out in the
// example setup, uncommented as its comment says, on an image built from
// compose/reaper/Dockerfile. It stops an idle workspace, and `down` ends it
// cleanly.
// binaryImage builds the image of the binary alone, as compose/compose.yaml
// says (make build, then docker build): the binary under test is static, as
// make build makes it. It is removed when the test ends.
func binaryImage(t *testing.T, h *harness) string {
	t.Helper()
	buildCtx := t.TempDir()
	bin, err := os.ReadFile(filepath.Join(env.configDir, "plugins", "docker-workspace"))
	assert.NilError(t, err)
	assert.NilError(t, os.Mkdir(filepath.Join(buildCtx, "bin"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(buildCtx, "bin", "docker-workspace"), bin, 0o755))
	img := "e2e-binary-" + h.id
	h.docker("build", "-q", "-f", "../compose/reaper/Dockerfile", "-t", img, buildCtx).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rmi", "-f", img) })
	return img
}

func TestComposeReaperService(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	img := binaryImage(t, h)

	// The service, uncommented.
	example, err := os.ReadFile(exampleCompose)
	assert.NilError(t, err)
	var block []string
	for _, line := range strings.Split(string(example), "\n") {
		if len(block) == 0 && line != "  # reaper:" {
			continue
		}
		if !strings.HasPrefix(line, "  # ") {
			break
		}
		block = append(block, "  "+strings.TrimPrefix(line, "  # "))
	}
	assert.Assert(t, len(block) > 3, "no reaper service in %s", exampleCompose)
	file := fs.NewFile(t, "compose", fs.WithContent("services:\n"+strings.Join(block, "\n")+"\n")).Path()

	idle, busy := h.subdir("-idle"), h.subdir("-busy")
	h.ws("ensure", idle, busy).Assert(t, icmd.Success)
	h.docker("exec", containerName(busy), "sh", "-c", "sleep 3600 >/dev/null 2>&1 &").Assert(t, icmd.Success)
	h = h.withEnv("REAPER_IMAGE="+img, "REAPER_IDLE_FOR=2s", "REAPER_INTERVAL=1s", "REAPER_FILTER=name="+h.id)
	project := h.composeProject("modern", file)
	h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if h.inspect("modern", containerName(idle)).State.Status == "exited" {
			return poll.Success()
		}
		return poll.Continue("%s still runs", idle)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
	assert.Check(t, is.Equal(h.inspect("modern", containerName(busy)).State.Status, "running"))
	logs := h.compose(project, "-f", file, "logs", "reaper").Assert(t, icmd.Success).Combined()
	assert.Check(t, is.Contains(logs, idle+" ("+containerName(idle)+"): stopped"))
	assert.Check(t, is.Contains(logs, `process "sleep 3600" runs`))
	// down sends SIGTERM: it ends at once, with exit 0.
	reaper := strings.TrimSpace(h.compose(project, "-f", file, "ps", "-q", "reaper").Stdout())
	h.compose(project, "-f", file, "stop", "-t", "30", "reaper").Assert(t, icmd.Success)
	h.docker("inspect", "--format", "{{.State.ExitCode}}", reaper).Assert(t, icmd.Expected{Out: "0"})
}

// Workspaces are services of their project as Compose sees them: ps, exec,
// logs, top, stop, start, restart, kill, and down with or without the file;
// they join the project's network under the service's name.
func TestComposeLifecycle(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	alice, bob := h.subdir("-alice"), h.subdir("-bob")+"/src"
	h = h.withEnv("ALICE_SUBDIR="+alice, "BOB_SUBDIR="+bob)
	project := h.composeProject("modern", exampleCompose)
	h.compose(project, "-f", exampleCompose, "up", "-d").Assert(t, icmd.Success)
	// Without the file, as many scripts do: Compose finds the project by
	// its containers' labels.
	p := func(args ...string) *icmd.Result { t.Helper(); return h.compose(project, args...) }
	state := func(s string) string { return h.inspect("modern", containerName(s)).State.Status }

	ps := p("ps", "--format", "{{.Service}} {{.Name}} {{.State}}").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Contains(ps, "alice "+containerName(alice)+" running\n"))
	assert.Check(t, is.Contains(ps, "bob "+containerName(bob)+" running\n"))
	assert.Check(t, is.Contains(ps, "gateway "))
	p("exec", "-T", "alice", "sh", "-c", "pwd; echo from-compose-exec > note").Assert(t, icmd.Expected{Out: "/home/agent/workspace"})
	h.docker("exec", containerName(alice), "cat", "/home/agent/workspace/note").Assert(t, icmd.Expected{Out: "from-compose-exec"})
	p("logs", "alice").Assert(t, icmd.Success)
	p("top", "alice").Assert(t, icmd.Expected{Out: "sleep infinity"})
	// The project's other services reach a workspace by its service name
	// when its option network says so (alice), and not otherwise (bob).
	p("exec", "-T", "gateway", "nslookup", "alice").Assert(t, icmd.Success)
	ws := h.inspect("modern", containerName(alice))
	ep := ws.NetworkSettings.Networks[project+"_default"]
	if assert.Check(t, ep != nil, "not on the project's network: %v", ws.NetworkSettings.Networks) {
		assert.Check(t, is.Contains(ep.Aliases, "alice"))
	}
	p("exec", "-T", "gateway", "nslookup", "bob").Assert(t, icmd.Expected{ExitCode: 1})
	wsBob := h.inspect("modern", containerName(bob))
	assert.Check(t, wsBob.NetworkSettings.Networks[project+"_default"] == nil, "bob joined the project's network: %v", wsBob.NetworkSettings.Networks)
	assert.Check(t, wsBob.NetworkSettings.Networks["gws.open"] != nil, "bob is not in open mode: %v", wsBob.NetworkSettings.Networks)

	p("stop", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "exited"))
	assert.Check(t, !strings.Contains(p("ps", "--format", "{{.Service}}").Stdout(), "alice\n"), "a stopped workspace in ps")
	assert.Check(t, is.Contains(p("ps", "-a", "--format", "{{.Service}} {{.State}}").Stdout(), "alice exited\n"))
	p("start", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "running"))
	before := h.inspect("modern", containerName(alice)).State.StartedAt
	p("restart", "alice").Assert(t, icmd.Success)
	after := h.inspect("modern", containerName(alice))
	assert.Check(t, after.State.StartedAt != before, "not restarted")
	assert.Check(t, is.Equal(after.ID, ws.ID))
	p("kill", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "exited"))
	// up starts it again: the same container.
	h.compose(project, "-f", exampleCompose, "up", "-d").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(alice)).ID, ws.ID))
	assert.Check(t, is.Equal(state(alice), "running"))

	// The same with the file.
	pf := func(args ...string) *icmd.Result {
		t.Helper()
		return h.compose(project, append([]string{"-f", exampleCompose}, args...)...)
	}
	assert.Check(t, is.Contains(pf("ps", "--format", "{{.Service}} {{.State}}").Assert(t, icmd.Success).Stdout(), "alice running\n"))
	pf("exec", "-T", "alice", "cat", "note").Assert(t, icmd.Expected{Out: "from-compose-exec"})
	pf("logs", "alice").Assert(t, icmd.Success)
	pf("top", "alice").Assert(t, icmd.Expected{Out: "sleep infinity"})
	pf("stop", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "exited"))
	assert.Check(t, is.Contains(pf("ps", "-a", "--format", "{{.Service}} {{.State}}").Stdout(), "alice exited\n"))
	pf("start", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "running"))
	pf("restart", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "running"))
	pf("kill", "alice").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(alice), "exited"))
	pf("up", "-d").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(alice)).ID, ws.ID))

	// down without the file removes the workspace containers, never the
	// data or the volumes (with the file: TestComposeExampleSetup); it
	// stops them first, as Compose stops its own: no kill (new-user pass 6).
	since := time.Now()
	p("down").Assert(t, icmd.Success)
	evs := h.eventsBetween(t, since, alice)
	assert.Check(t, is.Contains(evs, "removed compose "+alice), "%v", evs)
	assert.Check(t, !slices.Contains(evs, "stopped compose "+alice+" exit=137"), "killed: %v", evs)
	assert.Check(t, !h.exists("modern", containerName(alice)))
	assert.Check(t, !h.exists("modern", containerName(bob)))
	h.docker("run", "--rm", "-v", project+"_workspaces:/v", image, "cat", "/v/"+alice+"/note").Assert(t, icmd.Expected{Out: "from-compose-exec"})
}

// A workspace service removed from the Compose file is an orphan: `down
// --remove-orphans` removes its container (not its data).
func TestComposeRemoveOrphans(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	svc := func(name, subdir string) string {
		return "  " + name + ":\n    provider:\n      type: workspace\n      options:\n        subdir: " + subdir + "\n        workspace-root: " + root.Path() + "\n"
	}
	both := fs.NewFile(t, "compose", fs.WithContent("services:\n"+svc("a", a)+svc("b", b))).Path()
	onlyA := fs.NewFile(t, "compose", fs.WithContent("services:\n"+svc("a", a))).Path()
	project := h.composeProject("modern", both)
	// A project of workspace services only: up succeeds.
	h.compose(project, "-f", both, "up", "-d").Assert(t, icmd.Success)
	h.docker("exec", containerName(b), "touch", "/home/agent/workspace/kept").Assert(t, icmd.Success)
	h.compose(project, "-f", onlyA, "down", "--remove-orphans").Assert(t, icmd.Success)
	assert.Check(t, !h.exists("modern", containerName(b)))
	assert.Check(t, !h.exists("modern", containerName(a)))
	_, err := os.Stat(filepath.Join(root.Path(), b, "kept"))
	assert.Check(t, err, "the orphan's data went with it")
}

// What Compose 2.40 does not pass to a provider, --dry-run and
// --force-recreate, the provider reads from Compose's command line: a dry
// run changes nothing, --force-recreate replaces the container (data kept).
func TestComposeDryRunAndForceRecreate(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	help := icmd.RunCmd(icmd.Command(filepath.Join(env.configDir, "plugins", "docker-workspace"), "compose", "--help"), icmd.WithEnv(h.env...)).
		Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Contains(help, "--dry-run"))
	assert.Check(t, is.Contains(help, "--force-recreate"))
	s := h.subdir("")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	// (With a plain service beside it: in a dry run nothing is made, so a
	// project of workspace services only has, to Compose, no container to
	// start.)
	file := providerFile(t, []string{"subdir: " + s, "workspace-root: " + root.Path()},
		"  app:\n    image: "+image+"\n    command: [\"sleep\", \"infinity\"]\n")
	project := h.composeProject("modern", file)
	res := h.compose(project, "-f", file, "--dry-run", "up", "-d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "dry run: would ensure workspace"))
	assert.Check(t, !h.exists("modern", containerName(s)), "a dry run made the container")
	_, err := os.Stat(filepath.Join(root.Path(), s))
	assert.Check(t, os.IsNotExist(err), "a dry run made the directory")

	h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	id := h.inspect("modern", containerName(s)).ID
	h.docker("exec", containerName(s), "touch", "/home/agent/workspace/kept").Assert(t, icmd.Success)
	res = h.compose(project, "-f", file, "--dry-run", "down").Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "dry run: would remove "+containerName(s)))
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id), "a dry run removed the container")
	// A dry run tells what the real down does (issue 22, 12): a container
	// made outside the project is left alone by both.
	other := h.subdir("-hand")
	h.ws("ensure", "--workspace-root", root.Path(), other).Assert(t, icmd.Success)
	otherFile := providerFile(t, []string{"subdir: " + other, "workspace-root: " + root.Path()}, "")
	res = h.compose(project+"-o", "-f", otherFile, "--dry-run", "down")
	assert.Check(t, is.Contains(res.Combined(), "nothing to remove"), res.Combined())
	assert.Check(t, h.exists("modern", containerName(other)))
	h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id), "a second up replaced it")
	h.compose(project, "-f", file, "up", "-d", "--force-recreate").Assert(t, icmd.Success)
	assert.Check(t, h.inspect("modern", containerName(s)).ID != id, "--force-recreate kept the container")
	h.docker("exec", containerName(s), "ls", "/home/agent/workspace/kept").Assert(t, icmd.Success)
}

// A service whose subdir option changes gets the new workspace, and the
// old one's container goes (its data stays), as Compose replaces a
// service's container: never two containers answering to one service
// (new-user pass 10). An ensure of a Compose workspace that differs names
// the compose command that replaces it.
func TestComposeSubdirChangeReplaces(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	first, second := h.subdir("-1"), h.subdir("-2")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	file := func(subdir string) string {
		return fs.NewFile(t, "compose", fs.WithContent("services:\n  alice:\n    provider:\n      type: workspace\n      options:\n        subdir: "+subdir+
			"\n        workspace-root: "+root.Path()+"\n")).Path()
	}
	f1, f2 := file(first), file(second)
	project := h.composeProject("modern", f2)
	h.compose(project, "-f", f1, "up", "-d").Assert(t, icmd.Success)
	h.docker("exec", containerName(first), "touch", "/home/agent/workspace/kept").Assert(t, icmd.Success)

	warn := h.ws("ensure", "--workspace-root", root.Path(), "--read-only", first)
	warn.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(warn.Stderr(), "docker compose -p "+project+" up -d --force-recreate"))

	res := h.compose(project, "-f", f2, "up", "-d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "no longer"))
	assert.Check(t, !h.exists("modern", containerName(first)), "the old subdir's container stays beside the new one")
	assert.Check(t, h.exists("modern", containerName(second)))
	ps := h.compose(project, "-f", f2, "ps", "-a", "--format", "{{.Name}}")
	assert.Check(t, is.Equal(strings.TrimSpace(ps.Stdout()), containerName(second)))
	_, err := os.Stat(filepath.Join(root.Path(), first, "kept"))
	assert.Check(t, err, "the old workspace's data went with its container")
}

// The example's gateway without the Docker socket (profile api): the server
// alone holds the socket; the gateway service does not, and reaches its
// workspaces through the server with the example's token — the Python
// module (workspace_api.py) included.
func TestComposeServeSetup(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	img := binaryImage(t, h)
	run := t.TempDir()
	assert.NilError(t, os.Chmod(run, 0o755))
	alice, bob := h.subdir("-alice"), h.subdir("-bob")
	h = h.withEnv("SERVER_IMAGE="+img, "API_RUN="+run, "ALICE_SUBDIR="+alice, "BOB_SUBDIR="+bob)
	project := h.composeProject("modern", exampleCompose)
	h.compose(project, "-f", exampleCompose, "--profile", "api", "up", "-d").Assert(t, icmd.Success)

	mounts := func(svc string) string {
		id := strings.TrimSpace(h.compose(project, "-f", exampleCompose, "--profile", "api", "ps", "-q", svc).Stdout())
		return h.docker("inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", id).Assert(t, icmd.Success).Stdout()
	}
	assert.Check(t, is.Contains(mounts("workspace-api"), "/var/run/docker.sock"))
	assert.Check(t, !strings.Contains(mounts("gateway-api"), "docker.sock"), "the gateway holds the Docker socket")

	sock := filepath.Join(run, "api.sock")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := os.Stat(sock); err == nil {
			return poll.Success()
		}
		return poll.Continue("no socket yet")
	}, poll.WithTimeout(30*time.Second))
	// The Python module, as the gateway runs it (here from this machine,
	// over the same socket).
	carol := h.subdir("-carol")
	py := icmd.RunCmd(icmd.Command("python3", "-c", `
import sys
sys.path.insert(0, "../compose/gateway")
from workspace_api import WorkspaceApiRunner, WorkspaceBadInput
r = WorkspaceApiRunner(server="unix://`+sock+`", token="example-token-change-me-0000")
r.ensure_workspace_container(workspace_subdir=sys.argv[1])
p = r.exec(sys.argv[1], ["sh", "-c", "cat > f; cat f; id -u; exit 5"], input="via-api\n")
print(p.returncode, p.stdout.replace("\n", " "))
try:
    r.ensure_workspace_container(workspace_subdir="../x")
except WorkspaceBadInput as e:
    print("refused", e.status, e.code)
`, carol))
	py.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(py.Stdout(), "5 via-api 1000 \nrefused 400 bad_request\n"))
	// Made with the token's configuration: the project's volumes, hardened.
	c := h.inspect("modern", containerName(carol))
	_, vol, _, _ := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(vol, project+"_workspaces"))
	h.docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", containerName(carol)).Assert(t, icmd.Expected{Out: "true"})
	h.docker("rm", "-f", containerName(carol)).Assert(t, icmd.Success)
}

// `docker compose -p P down` without the file removes a proxied
// workspace's container itself and never asks the provider: its egress
// proxy stays, and is found by prune --filter compose-project=P, or by rm
// of its subdir (new-user pass 11: nothing found it but an unfiltered
// prune).
func TestComposeDownWithoutFileLeavesAProxyFound(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	bob := h.subdir("-bob")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Chmod(root.Path(), 0o755))
	file := fs.NewFile(t, "compose", fs.WithContent("services:\n  bob:\n    provider:\n      type: workspace\n      options:\n        subdir: "+bob+
		"\n        workspace-root: "+root.Path()+"\n        egress: allowlist\n        allow: allowed.test\n")).Path()
	project := h.composeProject("modern", file)
	proxy := "gws.egress." + strings.TrimPrefix(containerName(bob), "gws-")
	t.Cleanup(func() { h.docker("rm", "-f", proxy) })
	for _, cleanup := range [][]string{
		{"workspace", "prune", "-f", "--filter", "compose-project=" + project},
		{"workspace", "rm", "-f", bob},
	} {
		h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
		assert.Check(t, h.exists("modern", proxy))
		h.compose(project, "down").Assert(t, icmd.Success)
		assert.Check(t, !h.exists("modern", containerName(bob)))
		assert.Check(t, h.exists("modern", proxy), "Compose asked the provider after all: the documentation says otherwise")
		res := h.docker(cleanup...)
		res.Assert(t, icmd.Success)
		assert.Check(t, !h.exists("modern", proxy), "%v left the proxy: %s", cleanup, res.Combined())
		h.docker("network", "inspect", "gws.net."+strings.TrimPrefix(containerName(bob), "gws-")).Assert(t, icmd.Expected{ExitCode: 1})
	}
}
