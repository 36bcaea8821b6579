package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func TestEnsurePrintsIDs(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "alice", "team/bob"))
	assert.Check(t, is.Equal(c.out.String(), idOf("alice")+"\n"+idOf("team/bob")+"\n"))
}

func TestEnsureJSON(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--format", "json", "Alice"))
	got := jsonLines(t, c.out.String())
	assert.Check(t, is.DeepEqual(got, []map[string]any{{
		"ID": idOf("Alice"), "Name": "gws-alice", "Subdir": "Alice", "Action": "created",
		"Mode": "bind", "Image": sandbox.DefaultImage, "Drift": []any{}, "Node": "",
	}}))
}

func TestEnsureTemplate(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--format", "{{.Name}} {{.Action}}", "a"))
	assert.Check(t, is.Equal(c.out.String(), "gws-a created\n"))
}

func TestEnsureConfigPrecedence(t *testing.T) {
	configJSON := `{"plugins": {"workspace": {"image": "from/config", "network": "config-net", "init": "false"}}}`
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		image   string
		network string
		init    bool
	}{
		{name: "config", image: "from/config", network: "config-net", init: false},
		{name: "env over config", env: map[string]string{"GATEWAY_WORKSPACE_IMAGE": "from/env", "GATEWAY_WORKSPACE_INIT": "1"},
			image: "from/env", network: "config-net", init: true},
		{name: "flag over env", env: map[string]string{"GATEWAY_WORKSPACE_IMAGE": "from/env", "GATEWAY_WORKSPACE_DOCKER_NETWORK": "env-net"},
			args: []string{"--image", "from/flag", "--init"}, image: "from/flag", network: "env-net", init: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sandboxtest.NewEngine()
			for _, img := range []string{"from/config", "from/env", "from/flag"} {
				f.Images[img] = f.Images[sandbox.DefaultImage]
			}
			for _, n := range []string{"config-net", "env-net"} {
				f.AddNetwork(n, nil)
			}
			c := newTestCLI(t, f, configJSON)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			assert.NilError(t, c.run(append(append([]string{"ensure"}, tc.args...), "a")...))
			cfg, hc := created(t, f, "gws-a")
			assert.Check(t, is.Equal(cfg.Image, tc.image))
			assert.Check(t, is.Equal(string(hc.NetworkMode), tc.network))
			assert.Check(t, is.Equal(*hc.Init, tc.init))
		})
	}
}

func TestEnsureDefaults(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "a"))
	cfg, hc := created(t, f, "gws-a")
	assert.Check(t, is.Equal(cfg.Image, "agent/workspace:latest"))
	assert.Check(t, *hc.Init)
	assert.Assert(t, is.Len(hc.Mounts, 2))
	data := filepath.Join(os.Getenv("XDG_DATA_HOME"), "docker-workspace")
	assert.Check(t, is.Equal(hc.Mounts[0].Type, mount.TypeBind))
	assert.Check(t, strings.HasSuffix(hc.Mounts[0].Source, filepath.Join("docker-workspace", "workspaces", "a")), hc.Mounts[0].Source)
	assert.Check(t, is.Equal(hc.Mounts[1].Source, filepath.Join(data, "shared")))
}

func TestEnsureRelativeRootIsMadeAbsolute(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	t.Chdir(t.TempDir())
	assert.NilError(t, c.run("ensure", "--workspace-root", "ws", "--shared-dir", "sh", "a"))
	_, hc := created(t, f, "gws-a")
	assert.Check(t, filepath.IsAbs(hc.Mounts[0].Source), hc.Mounts[0].Source)
	assert.Check(t, strings.HasSuffix(hc.Mounts[0].Source, filepath.Join("ws", "a")), hc.Mounts[0].Source)
}

func TestEnsureRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: []string{"ensure", "../x"}, err: `invalid workspace subdir "../x"`},
		{args: []string{"ensure", "/abs"}, err: `invalid workspace subdir "/abs"`},
		{args: []string{"ensure", "--mount-mode", "nfs", "a"}, err: `invalid mount mode "nfs"`},
		{args: []string{"ensure", "--pull", "sometimes", "a"}, err: `invalid pull policy "sometimes"`},
		{args: []string{"ensure", "--mount-mode", "volume_subpath", "--workspace-volume", "ws", "a"},
			err: "volume_subpath mode needs a workspace volume and a shared volume: set --workspace-volume and --shared-volume (or GATEWAY_WORKSPACE_DOCKER_VOLUME and GATEWAY_SHARED_DOCKER_VOLUME)"},
		{args: []string{"ensure", "--orchestrator", "kubernetes", "a"}, err: `--orchestrator: invalid orchestrator "kubernetes"`},
		{args: []string{"ensure", "--orchestrator", "swarm", "a"}, err: "bind mode (a task may start on any node"},
		{args: []string{"ensure", "--orchestrator", "swarm", "--compose-project", "p", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "a"},
			err: "a Compose project"},
		{args: []string{"stop", "a/../b"}, err: `invalid workspace subdir "a/../b"`},
		{args: []string{"stop", "--timeout", "-2", "a"}, err: "invalid --timeout -2"},
		{args: []string{"stop", "--signal", "SIGBOGUS", "a"}, err: `invalid --signal "SIGBOGUS"`},
		{args: []string{"stop", "--orchestrator", "swarm", "--timeout", "3", "a"}, err: "--timeout is not supported on swarm: a service's stop grace period and signal are its own"},
		{args: []string{"rm", "../up"}, err: `invalid workspace subdir "../up"`},
		{args: []string{"ensure", "--format", "{{.Name", "a", "b"}, err: `invalid --format "{{.Name"`},
		{args: []string{"ensure", "--format", "{{.Nmae}}", "a"}, err: `can't evaluate field Nmae`},
		{args: []string{"ensure", "--api-timeout", "soon", "a"}, err: `--api-timeout: invalid duration "soon"`},
		{args: []string{"ls", "--format", "{{.Nope}}"}, err: `invalid --format "{{.Nope}}"`},
		{args: []string{"ls", "--pull", "bogus"}, err: `--pull: invalid pull policy "bogus"`},
		{args: []string{"ls", "--mount-mode", "wrong"}, err: `--mount-mode: invalid mount mode "wrong"`},
		{args: []string{"ls", "--filter", "colour=red"}, err: `--filter: invalid filter 'colour'`},
		{args: []string{"ls", "--filter", "status=sleepy"}, err: `--filter: invalid status "sleepy"`},
		{args: []string{"doctor", "--format", "{{.Nmae}}"}, err: `can't evaluate field Nmae`},
		{args: []string{"doctor", "--format", "{{.Engine.Vrsion}}"}, err: `can't evaluate field Vrsion`},
		{args: []string{"inspect", "-f", "{{.Nmae}}", "a"}, err: `can't evaluate field Nmae`},
		// A filter that reap cannot apply, and a drift value of nothing,
		// are refused, never taken as "all" (issue 22, new-user pass).
		{args: []string{"reap", "--once", "--idle-for", "1s", "--filter", "drift=yes"}, err: "drift is not a filter of reap"},
		{args: []string{"ls", "--filter", "drift=imagee"}, err: `invalid drift "imagee"`},
		{args: []string{"ensure", "--cpus", "-1", "a"}, err: `--cpus: invalid number of CPUs "-1": must not be negative`},
		{args: []string{"ensure", "--pids-limit", "-5", "a"}, err: `--pids-limit: invalid process limit "-5"`},
		{args: []string{"ensure", "--memory", "1k", "a"}, err: `--memory: invalid memory limit "1k": must be at least 6MiB`},
		{args: []string{"ensure", "--cpus", "0.001", "a"}, err: `--cpus: invalid number of CPUs "0.001": must be at least 0.01`},
		{args: []string{"update", "--cpus", "0.001", "a"}, err: `invalid --cpus "0.001": must be at least 0.01`},
		{args: []string{"egress", "log", "--tail", "abc", "a"}, err: `invalid --tail "abc"`},
		{args: []string{"ensure", "--egress", "allowlist", "--allow", "http://x", "a"}, err: "not a URL"},
		// Issue 18: update's values, checked before the engine.
		{args: []string{"update", "a"}, err: "nothing to update: give --cpus, --memory or --pids-limit"},
		{args: []string{"update", "--memory", "lots", "a"}, err: `invalid --memory "lots"`},
		{args: []string{"update", "--memory", "0", "a"}, err: "memory must be at least 6MiB"},
		{args: []string{"update", "--cpus", "0", "a"}, err: "cpus must be more than 0"},
		{args: []string{"update", "--cpus", "-1", "a"}, err: "--cpus: invalid configuration: cpus must be more than 0"},
		{args: []string{"update", "--cpus", "1e300", "a"}, err: "out of range"},
		{args: []string{"update", "--pids-limit", "-2", "a"}, err: "must not be negative"},
		{args: []string{"update", "--pids-limit", "many", "a"}, err: `invalid --pids-limit "many"`},
		{args: []string{"inspect", "-f", "{{.State.Pdi}}", "a"}, err: `can't evaluate field Pdi`},
		// Issue 19: events' times, filters and format, checked first.
		{args: []string{"events", "--since", "yesterday"}, err: `invalid --since "yesterday"`},
		{args: []string{"events", "--until", "2026-13-45"}, err: `invalid --until "2026-13-45"`},
		{args: []string{"events", "--filter", "colour=red"}, err: `--filter: invalid filter 'colour'`},
		{args: []string{"events", "--filter", "event=exploded"}, err: `--filter: invalid event "exploded": one of created, recreated`},
		{args: []string{"events", "--filter", "reason=boredom"}, err: `--filter: invalid reason "boredom"`},
		{args: []string{"events", "--format", "{{.Knd}}"}, err: `can't evaluate field Knd`},
		// Issue 18: a disk cap — bad values, and one no file system here enforces.
		{args: []string{"ensure", "--disk", "0", "a"}, err: `--disk: invalid disk cap "0": must be more than 0`},
		{args: []string{"ensure", "--disk", "-1g", "a"}, err: `--disk: invalid disk cap "-1g"`},
		{args: []string{"ensure", "--disk", "lots", "a"}, err: `--disk: invalid disk cap "lots"`},
		{args: []string{"update", "--disk", "0", "a"}, err: `--disk: invalid disk cap "0"`},
		{args: []string{"update", "--disk", "lots", "a"}, err: `--disk: invalid disk cap "lots"`},
		{args: []string{"ensure", "--disk", "1g", "a"}, err: "a disk cap cannot be enforced: the workspace's directory is on"},
		{args: []string{"update", "--disk", "1g", "a"}, err: "a disk cap cannot be enforced: it needs an XFS project quota on the workspace's directory, and this build sets none"},
		{args: []string{"ensure", "--orchestrator", "swarm", "--disk", "1g", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "a"},
			err: "a disk cap cannot be enforced"},
		{args: []string{"prune", "-f", "--orchestrator", "swarm"}, err: "prune is not supported on swarm"},
		// Issue 17, Low: what would become something else.
		{args: []string{"ensure", "--cpus", "1e300", "a"}, err: `invalid number of CPUs "1e300": out of range`},
		{args: []string{"ensure", "--memory", "1e300g", "a"}, err: `invalid memory limit "1e300g": out of range`},
		{args: []string{"ensure", "--env", "A=b\x00c", "a"}, err: "contains a NUL byte"},
		{args: []string{"ensure", "--workspace-root", "/tmp/a\nb", "a"}, err: `workspace root "/tmp/a\nb": contains a control character`},
		{args: []string{"ensure", "--shared-dir", "/tmp/s\rx", "a"}, err: "shared directory"},
		{args: []string{"ensure", "\u0441at"}, err: "mixes letters of scripts that look alike"},
		{args: []string{"ensure", "--network", "host", "a"}, err: "network host is the network namespace of the engine's host"},
		{args: []string{"ensure", "--network", "container:gws-b", "a"}, err: "network container:gws-b is the network namespace of container gws-b: " +
			"the workspace would reach every service listening there, and they its own, in no egress mode (--allow-unisolated-network allows it)"},
		{args: []string{"prune", "-f", "--filter", "label="}, err: "a label filter needs a key"},
		{args: []string{"ensure", "--cap-add", "BOGUS", "a"}, err: `--cap-add: invalid configuration: capability "BOGUS": Linux has no such capability`},
		{args: []string{"ensure", "--cap-drop", "NOPE", "a"}, err: `--cap-drop: invalid configuration: capability "NOPE"`},
		{args: []string{"ensure", "--label", "com.docker.swarm.x=1", "a"}, err: `--label: invalid configuration: label "com.docker.swarm.x"`},
		{args: []string{"prune", "-f", "--filter", "label==x"}, err: "a label filter needs a key"},
		{args: []string{"prune", "-f", "--filter", "compose-project="}, err: "compose-project needs a project name"},
		// new-user pass 12: a mount mode no one set is the default's.
		{args: []string{"ensure", "--workspace-volume", "v", "a"}, err: "the mount mode is bind (the default; did you mean --mount-mode volume_subpath?)"},
		{args: []string{"ensure", "--mount-mode", "bind", "--shared-volume", "v", "a"}, err: "(set by --mount-mode; did you mean --mount-mode volume_subpath?)"},
		// new-user pass 12: arguments that overlap, told from the arguments.
		{args: []string{"ensure", "a", "a/in"}, err: `workspaces must not overlap: "a/in" is inside "a"; nothing was made`},
		// new-user pass 11: docker workspace's own networks are no workspace's to join.
		{args: []string{"ensure", "--network", "gws.net.other", "a"}, err: "network gws.net.other is one of docker workspace's own"},
		{args: []string{"ensure", "--egress", "allowlist", "--allow", "x.org", "--egress-network", "gws.egress", "a"}, err: "network gws.egress is one of docker workspace's own"},
		// serve (issue 20): its flags and its tokens file, before anything listens.
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--listen", "tcp://127.0.0.1:1"}, err: "tcp needs TLS with client certificates"},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--listen", "http://x"}, err: "unix:///PATH or tcp://HOST:PORT is needed"},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--socket-mode", "0666"}, err: "open to everyone"},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--socket-mode", "rw"}, err: "not an octal mode"},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--max-upload", "lots"}, err: `--max-upload: invalid size "lots"`},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--tlscert", "x"}, err: "go together"},
		{args: []string{"serve", "--tokens", "/nonexistent/tokens.json", "--listen", "unix:///tmp/x.sock"}, err: "--tokens: open /nonexistent/tokens.json"},
		{args: []string{"reap", "--server", "unix:///tmp/x.sock", "--idle-for", "1m", "--filter", "name=a"}, err: "the token's workspaces are reaped"},
		{args: []string{"reap", "--server", "unix:///tmp/x.sock", "--idle-for", "1m"}, err: "a token is needed"},
	} {
		f := sandboxtest.NewEngine()
		c := newTestCLI(t, f, "")
		err := c.run(tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.err), "%v", tc.args)
		assert.Check(t, is.Equal(exitCode(err), 125), "%v: %v", tc.args, err)
		assert.Check(t, is.Equal(f.Calls(), ""), "%v", tc.args)
	}
}

func TestEnsureDisabled(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	t.Setenv("GATEWAY_WORKSPACE_DOCKER_ENABLED", "false")
	assert.NilError(t, c.run("ensure", "a"))
	assert.NilError(t, c.run("stop", "a"))
	assert.NilError(t, c.run("restart", "a"))
	assert.Check(t, is.Equal(f.Calls(), ""))
	assert.Check(t, is.Equal(c.out.String(), ""))
	assert.Check(t, is.Contains(c.err.String(), "GATEWAY_WORKSPACE_DOCKER_ENABLED is false: not ensuring"))
	assert.Check(t, is.Contains(c.err.String(), "GATEWAY_WORKSPACE_DOCKER_ENABLED is false: not stopping"))
	assert.Check(t, is.Contains(c.err.String(), "GATEWAY_WORKSPACE_DOCKER_ENABLED is false: not restarting"))

	t.Setenv("GATEWAY_WORKSPACE_DOCKER_ENABLED", "maybe")
	assert.Check(t, is.ErrorContains(c.run("ensure", "a"), `GATEWAY_WORKSPACE_DOCKER_ENABLED: invalid value "maybe": must be a boolean (true/false, 1/0, yes/no, on/off)`))
}

func TestEnsureGoesOnAfterAFailure(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.OnStart = func(c *sandboxtest.Ctr) error {
		if c.Name == "gws-b" {
			return errors.New("boom")
		}
		return nil
	}
	c := newTestCLI(t, f, "")
	err := c.run("ensure", "a", "b", "c")
	assert.Check(t, is.ErrorContains(err, `workspace "b": start container gws-b: boom`))
	assert.Check(t, is.Equal(c.out.String(), idOf("a")+"\n"+idOf("c")+"\n"))
}

func TestUnreachableEngineIsOneLine(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Down = client.ErrorConnectionFailed("unix:///nowhere.sock")
	c := newTestCLI(t, f, "")
	t.Setenv("DOCKER_HOST", "unix:///nowhere.sock")
	for _, args := range [][]string{{"ensure", "--parallel", "1", "a", "b"}, {"stop", "a", "b"}, {"rm", "a", "b"}, {"ls"}} {
		f.CallLog = nil
		err := c.run(args...)
		assert.Check(t, is.Error(err, `cannot connect to the Docker engine of context "default" at unix:///nowhere.sock: is it running?`), "%v", args)
		assert.Check(t, is.Equal(f.Calls(), "down"), "%v: went on after the first failure", args)
	}
}

// Several workspaces, one missing image: one pull, one progress display.
func TestEnsurePullsOncePerCommand(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Pullable("my/img")
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--image", "my/img", "a", "b", "c"))
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "pull:my/img"), 1), f.Calls())
	assert.Check(t, is.Equal(strings.Count(c.err.String(), "Pulling my/img"), 1))
	assert.Check(t, is.Equal(c.out.String(), idOf("a")+"\n"+idOf("b")+"\n"+idOf("c")+"\n"))
}

func TestEnsureTable(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--format", "table", "a", "team/b"))
	golden.Assert(t, c.out.String(), "ensure-table.golden")
}

// A bad value names where it came from.
func TestBadSettingsNameTheirSource(t *testing.T) {
	for _, tc := range []struct {
		env, config string
		args        []string
		err         string
	}{
		{env: "GATEWAY_WORKSPACE_MEMORY=lots", err: `GATEWAY_WORKSPACE_MEMORY: invalid memory limit "lots"`},
		{args: []string{"--memory", "lots"}, err: `--memory: invalid memory limit "lots"`},
		{config: `{"plugins": {"workspace": {"memory": "lots"}}}`, err: `"memory" in the plugins.workspace section of`},
		{env: "GATEWAY_WORKSPACE_PULL=sometimes", err: `GATEWAY_WORKSPACE_PULL: invalid pull policy "sometimes"`},
	} {
		f := sandboxtest.NewEngine()
		c := newTestCLI(t, f, tc.config)
		if k, v, ok := strings.Cut(tc.env, "="); ok {
			t.Setenv(k, v)
		}
		err := c.run(append(append([]string{"ensure"}, tc.args...), "a")...)
		assert.Check(t, is.ErrorContains(err, tc.err), "%+v", tc)
		assert.Check(t, is.Equal(exitCode(err), 125))
		assert.Check(t, is.Equal(f.Calls(), ""))
		if k, _, ok := strings.Cut(tc.env, "="); ok {
			os.Unsetenv(k)
		}
	}
}

func TestUnknownConfigKeysAreWarnedAbout(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, `{"plugins": {"workspace": {"imgae": "x/y", "memory": "1g"}}}`)
	assert.NilError(t, c.run("ensure", "a"))
	assert.Check(t, is.Contains(c.err.String(), `unknown key "imgae" in the plugins.workspace section`))
	assert.Check(t, !strings.Contains(c.err.String(), `"memory"`))
}

// doctor against an unreachable engine says so once, after one call.
func TestDoctorUnreachableOnce(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	t.Setenv("DOCKER_HOST", "unix:///nowhere.sock")
	f.Down = client.ErrorConnectionFailed("unix:///nowhere.sock")
	err := c.run("doctor", "--format", "json", "--compose-project", "gw", "--mount-mode", "volume_subpath", "--workspace-volume", "ws", "--shared-volume", "sh")
	assert.Check(t, is.ErrorContains(err, "cannot connect to the Docker engine"))
	var rep struct{ Problems []string }
	assert.NilError(t, json.Unmarshal(c.out.Bytes(), &rep))
	assert.Check(t, is.Len(rep.Problems, 1), "%v", rep.Problems)
	assert.Check(t, is.Equal(f.Calls(), "down"))
}

// The host's or another container's network namespace only when allowed,
// with a warning (issue 17, Low): the workspace is not isolated there.
func TestUnisolatedNetworkIsAllowedOnlyWhenSaid(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--network", "host", "--allow-unisolated-network", "a"))
	assert.Check(t, is.Contains(c.err.String(), "WARNING: network host is not isolated"))
	assert.Check(t, is.Equal(string(f.ByName("gws-a").HC.NetworkMode), "host"))

	f = sandboxtest.NewEngine()
	c = newTestCLI(t, f, "")
	t.Setenv("GATEWAY_WORKSPACE_ALLOW_UNISOLATED_NETWORK", "true")
	assert.NilError(t, c.run("ensure", "--network", "container:gws-b", "a"))
	assert.Check(t, is.Contains(c.err.String(), "WARNING: network container:gws-b is not isolated"))
}

// A boolean or a number in config.json's plugins section makes the docker
// CLI ignore the whole file: refused, naming the key, before anything is
// made (issue 22, 2).
func TestConfigJSONTypesAreNotDropped(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, `{"plugins":{"workspace":{"read-only": true, "pids-limit": 100}}}`)
	err := c.run("ensure", "a")
	assert.Check(t, is.Equal(exitCode(err), 125), "%v", err)
	assert.Check(t, is.ErrorContains(err, `"pids-limit" in the plugins.workspace section is 100, not a string`))
	assert.Check(t, is.ErrorContains(err, `write it as "100"`))
	assert.Check(t, is.Equal(f.Calls(), ""))

	// Nor a file that is not JSON: the docker CLI drops all of it.
	f = sandboxtest.NewEngine()
	c = newTestCLI(t, f, `{"plugins":{"workspace":{"read-only": "true",}}}`)
	err = c.run("ensure", "a")
	assert.Check(t, is.Equal(exitCode(err), 125), "%v", err)
	assert.Check(t, is.ErrorContains(err, "not valid JSON"))
	assert.Check(t, is.Equal(f.Calls(), ""))

	f = sandboxtest.NewEngine()
	c = newTestCLI(t, f, `{"plugins":{"workspace":{"read-only": "true", "pids-limit": "100"}}}`)
	assert.NilError(t, c.run("ensure", "a"))
	ctr := f.ByName("gws-a")
	assert.Check(t, ctr.HC.ReadonlyRootfs)
	assert.Check(t, ctr.HC.Resources.PidsLimit != nil && *ctr.HC.Resources.PidsLimit == 100)
}

// "enabled" false says where it was set: config.json's key, not a variable
// nobody set (fourth new-user pass).
func TestDisabledSaysItsSource(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, `{"plugins":{"workspace":{"enabled":"false"}}}`)
	assert.NilError(t, c.run("ensure", "a"))
	assert.Check(t, is.Contains(c.err.String(), `"enabled" in the plugins.workspace section of `))
	assert.Check(t, !strings.Contains(c.err.String(), "GATEWAY_WORKSPACE_DOCKER_ENABLED"), c.err.String())
	assert.Check(t, is.Equal(f.Calls(), ""))
}

// doctor says that workspaces are switched off (new-user pass 7).
func TestDoctorSaysSwitchedOff(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, `{"plugins":{"workspace":{"enabled":"false"}}}`)
	_ = c.run("doctor", "--format", "{{json .Warnings}}", "--mount-mode", "volume_subpath", "--workspace-volume", "ws", "--shared-volume", "sh")
	assert.Check(t, is.Contains(c.out.String(), `is false: ensure and stop do nothing`), c.out.String())
}

// A drift kept is warned about; a recreated workspace's Drift (why it was
// replaced) is not said as kept (new-user pass 8).
func TestWarnDrift(t *testing.T) {
	var b bytes.Buffer
	traits := sandbox.Traits{Unit: "container"}
	warnDrift(&b, traits, "a", sandbox.Result{Name: "gws-a", Action: sandbox.ActionRunning, Drift: []string{"limits"}})
	assert.Check(t, is.Contains(b.String(), "differs from the configuration (limits); kept"))
	b.Reset()
	warnDrift(&b, traits, "a", sandbox.Result{Name: "gws-a", Action: sandbox.ActionRecreated, Drift: []string{"limits"}})
	assert.Check(t, is.Equal(b.String(), ""))
}
