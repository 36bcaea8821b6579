package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// messages decodes the provider's stdout, failing on any line that is not
// a protocol message.
func messages(t *testing.T, out string) [][2]string {
	t.Helper()
	var got [][2]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct{ Type, Message string }
		assert.NilError(t, json.Unmarshal([]byte(line), &m), "not a JSON line: %q", line)
		assert.Check(t, is.Contains([]string{"info", "error", "setenv", "debug"}, m.Type))
		got = append(got, [2]string{m.Type, m.Message})
	}
	return got
}

func TestComposeMetadata(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.NilError(t, c.run("compose", "metadata"))
	var md struct {
		Description string
		Up, Down    commandMetadata
		Stop        *commandMetadata
	}
	assert.NilError(t, json.Unmarshal(c.out.Bytes(), &md))
	params := map[string]metadataParameter{}
	for _, p := range md.Up.Parameters {
		params[p.Name] = p
	}
	// Every option of ensure, plus subdir and context.
	for _, name := range []string{"subdir", "context", "image", "mount-mode", "workspace-volume", "shared-volume", "network",
		"workspace-root", "shared-dir", "pull", "recreate", "profile", "init", "user", "cpus", "memory", "pids-limit", "disk",
		"read-only", "cap-add", "cap-drop", "security-opt", "label", "env", "orchestrator", "api-timeout"} {
		_, ok := params[name]
		assert.Check(t, ok, "up lacks %s", name)
	}
	assert.Check(t, params["subdir"].Required)
	assert.Check(t, !params["image"].Required)
	assert.Check(t, is.Equal(params["image"].Default, sandbox.DefaultImage))
	assert.Check(t, is.Equal(params["init"].Type, "boolean"))
	assert.Check(t, is.Equal(params["pids-limit"].Type, "integer"))
	var down []string
	for _, p := range md.Down.Parameters {
		down = append(down, p.Name)
	}
	assert.Check(t, is.DeepEqual(down, []string{"context", "subdir"}))
	assert.Assert(t, md.Stop != nil)
}

func TestComposeUp(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Images["my/img"] = f.Images[sandbox.DefaultImage]
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=team/alice", "--image=my/img", "alice"))
	cfg, hc := created(t, f, "gws-team-alice")
	got := messages(t, c.out.String())
	assert.Check(t, is.DeepEqual(got, [][2]string{
		{"info", `ensuring workspace "team/alice" as gws-team-alice`},
		{"info", "gws-team-alice created"},
		{"setenv", "CONTAINER_NAME=gws-team-alice"},
		{"setenv", "CONTAINER_ID=" + idOf("team/alice")},
		{"setenv", "SUBDIR=team/alice"},
		{"setenv", "MODE=bind"},
	}))
	assert.Check(t, is.Equal(cfg.Labels[sandbox.LabelComposeProject], "gw"))
	assert.Check(t, is.Equal(cfg.Image, "my/img"))
	// Compose's own labels: the container is the service's, as Compose
	// sees it.
	for k, v := range map[string]string{
		"com.docker.compose.project": "gw", "com.docker.compose.service": "alice",
		"com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False",
	} {
		assert.Check(t, is.Equal(cfg.Labels[k], v), k)
	}
	assert.Check(t, cfg.Labels["com.docker.compose.config-hash"] != "")
	assert.Check(t, is.Equal(string(hc.NetworkMode), "gws.open"), "open mode: a network where no other container reaches it")
}

// The project's default network only when the option network says so:
// the workspace joins it under the service's name. Without it, open mode.
func TestComposeUpJoinsTheDefaultNetworkWhenAsked(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.AddNetwork("gw_default", map[string]string{"com.docker.compose.project": "gw", "com.docker.compose.network": "default"})
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=bob", "bob-svc"))
	assert.Check(t, is.Equal(string(f.ByName("gws-bob").HC.NetworkMode), "gws.open"), "not the project's network unless asked")
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=alice", "--network=default", "alice-svc"))
	ctr := f.ByName("gws-alice")
	assert.Check(t, is.Equal(string(ctr.HC.NetworkMode), "gw_default"))
	if nc := ctr.Net; assert.Check(t, nc != nil && nc.EndpointsConfig["gw_default"] != nil) {
		assert.Check(t, is.DeepEqual(nc.EndpointsConfig["gw_default"].Aliases, []string{"alice-svc"}))
	}
	f = sandboxtest.NewEngine()
	f.AddNetwork("gw_default", map[string]string{"com.docker.compose.project": "gw", "com.docker.compose.network": "default"})
	c = newTestCLI(t, f, "")
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=alice", "--network=none", "alice-svc"))
	_, hc := created(t, f, "gws-alice")
	assert.Check(t, is.Equal(string(hc.NetworkMode), "none"))
}

func TestComposeFailuresAreJSONAndNonZero(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: []string{"compose", "--project-name=gw", "up", "svc"}, err: `service "svc": the option "subdir" is required`},
		{args: []string{"compose", "up", "--subdir=a", "svc"}, err: "--project-name is required"},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=../x", "svc"}, err: `invalid workspace subdir "../x"`},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a"}, err: "takes one SERVICE"},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--mount-mode=volume_subpath", "svc"}, err: "volume_subpath mode needs a workspace volume"},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--no-such-option=1", "svc"}, err: "unknown flag: --no-such-option"},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--context=nowhere", "svc"}, err: `context "nowhere"`},
		// A bad value names the service's option, not a flag (issue 22, 9).
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--pull=sometimes", "svc"}, err: `option "pull" of the service: invalid pull policy "sometimes"`},
		// Declared so that Compose passes them, and refused (issue 17, Low).
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--orchestrator=swarm", "--mount-mode=volume_subpath",
			"--workspace-volume=w", "--shared-volume=s", "svc"}, err: "the Compose provider is not supported on swarm"},
		{args: []string{"compose", "--project-name=gw", "up", "--subdir=a", "--label=com.docker.compose.project=other", "svc"},
			err: `label "com.docker.compose.project": keys starting with "com.docker.compose." are Compose's`},
	} {
		f := sandboxtest.NewEngine()
		c := newTestCLI(t, f, "")
		err := c.run(tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.err), "%v", tc.args)
		got := messages(t, c.out.String())
		assert.Check(t, len(got) == 1 && got[0][0] == "error" && strings.Contains(got[0][1], tc.err), "%v: %v", tc.args, got)
		assert.Check(t, is.Equal(f.Calls(), ""), "%v", tc.args)
	}
}

func TestComposeDownRemovesOnlyTheProjectsContainer(t *testing.T) {
	f := sandboxtest.NewEngine()
	for _, subdir := range []string{"ours", "by-hand"} {
		labels := map[string]string{sandbox.LabelSubdir: subdir}
		if subdir == "ours" {
			labels[sandbox.LabelComposeProject] = "gw"
		}
		f.Add(sandbox.ContainerName(subdir), container.StateRunning, container.Config{Labels: labels}, container.HostConfig{})
	}
	f.OnRemove = func(_ *sandboxtest.Ctr, opts container.RemoveOptions) error {
		assert.Check(t, !opts.RemoveVolumes)
		return nil
	}
	c := newTestCLI(t, f, "")
	for _, subdir := range []string{"ours", "by-hand", "gone"} {
		assert.NilError(t, c.run("compose", "--project-name=gw", "down", "--subdir="+subdir, "svc"))
	}
	assert.Check(t, f.ByName("gws-ours") == nil)
	assert.Check(t, f.ByName("gws-by-hand") != nil)
	got := messages(t, c.out.String())
	assert.Check(t, is.DeepEqual(got, [][2]string{
		{"info", "removed gws-ours; the workspace data is kept"},
		{"info", `no container of project "gw" for workspace "by-hand": nothing to remove`},
		{"info", `no container of project "gw" for workspace "gone": nothing to remove`},
	}))
}

// What Compose does not pass on is read from its command line.
func TestCallingCompose(t *testing.T) {
	defer func(f func() ([]string, error)) { parentCmdline = f }(parentCmdline)
	for _, tc := range []struct {
		argv        []string
		dry, recrea bool
	}{
		{[]string{"/usr/libexec/docker/cli-plugins/docker-compose", "compose", "-p", "gw", "--dry-run", "up", "-d"}, true, false},
		{[]string{"/usr/libexec/docker/cli-plugins/docker-compose", "compose", "up", "--force-recreate", "-d"}, false, true},
		{[]string{"docker-compose", "--dry-run=false", "up", "--force-recreate=true"}, false, true},
		{[]string{"docker-compose", "compose", "run", "x", "--", "sh", "--dry-run"}, false, false},
		{[]string{"/bin/bash", "--dry-run"}, false, false}, // not Compose
	} {
		parentCmdline = func() ([]string, error) { return tc.argv, nil }
		c := callingCompose()
		assert.Check(t, is.Equal(c.dryRun, tc.dry), "%v", tc.argv)
		assert.Check(t, is.Equal(c.forceRecreate, tc.recrea), "%v", tc.argv)
	}
	// Where the docker CLI that runs Compose was pointed (issue 22, 7).
	for argv, want := range map[string]composeCaller{
		"docker-compose --context remote compose up -d":        {context: "remote"},
		"docker-compose --context=remote compose --dry-run up": {context: "remote", dryRun: true},
		"docker-compose -H tcp://10.0.0.2:2376 compose up":     {host: "tcp://10.0.0.2:2376"},
		"docker-compose compose up --context x":                {},
	} {
		parentCmdline = func() ([]string, error) { return strings.Fields(argv), nil }
		assert.Check(t, is.Equal(callingCompose(), want), argv)
	}
	parentCmdline = func() ([]string, error) { return strings.Fields("docker-compose --context nowhere compose up"), nil }
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.Check(t, is.ErrorContains(c.run("compose", "--project-name=gw", "up", "--subdir=alice", "alice"), `context "nowhere"`))
	parentCmdline = func() ([]string, error) { return strings.Fields("docker-compose -H tcp://h:1 compose up"), nil }
	c = newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.Check(t, is.ErrorContains(c.run("compose", "--project-name=gw", "up", "--subdir=alice", "alice"), "Compose runs with -H tcp://h:1"))

	// A dry run changes nothing: it only looks, to tell the services that
	// depend on a workspace of the project that exists what a real up
	// would (new-user pass 13: without, Compose foresaw their recreation).
	parentCmdline = func() ([]string, error) { return []string{"docker-compose", "compose", "--dry-run", "up"}, nil }
	f := sandboxtest.NewEngine()
	c = newTestCLI(t, f, "")
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=alice", "alice"))
	assert.Check(t, is.Equal(f.Calls(), "list inspect:gws-alice"))
	assert.Check(t, is.Contains(c.out.String(), `dry run: would ensure workspace \"alice\" as gws-alice`))
	assert.Check(t, !strings.Contains(c.out.String(), "setenv"), "a workspace a real up would make has no ID yet")
	f.Add("gws-alice", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "alice", sandbox.LabelComposeProject: "gw"}}, container.HostConfig{})
	c.out.Reset()
	assert.NilError(t, c.run("compose", "--project-name=gw", "up", "--subdir=alice", "alice"))
	assert.Check(t, is.Contains(c.out.String(), `"setenv","message":"CONTAINER_NAME=gws-alice"`))
	assert.Check(t, !strings.Contains(f.Calls(), "create") && !strings.Contains(f.Calls(), "start"), f.Calls())
	id := f.ByName("gws-alice").ID
	f.Mu.Lock()
	delete(f.Ctrs, id)
	f.Mu.Unlock()
	// A dry run of down tells what the real one does, by looking only: a
	// container made outside the project is not removed (issue 22, 12).
	f.Add("gws-alice", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "alice"}}, container.HostConfig{})
	c.out.Reset()
	assert.NilError(t, c.run("compose", "--project-name=gw", "down", "--subdir=alice", "alice"))
	assert.Check(t, is.Contains(c.out.String(), `dry run: no container of project \"gw\" for workspace \"alice\": nothing to remove`))
	f.ByName("gws-alice").Cfg.Labels[sandbox.LabelComposeProject] = "gw"
	c.out.Reset()
	assert.NilError(t, c.run("compose", "--project-name=gw", "down", "--subdir=alice", "alice"))
	assert.Check(t, is.Contains(c.out.String(), `dry run: would remove gws-alice`))
	for _, call := range f.CallLog {
		assert.Check(t, strings.HasPrefix(call, "list") || strings.HasPrefix(call, "inspect"), "a dry run changed something: %s", f.Calls())
	}
	assert.Check(t, f.ByName("gws-alice") != nil)
}
