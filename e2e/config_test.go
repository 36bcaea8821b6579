package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
)

// The seed's environment variables configure ensure; flags win over them.
func TestEnvironmentConfiguration(t *testing.T) {
	requireEngine(t, "modern")
	// The shared directory goes to the container's user: its parent must be
	// one that nobody else can write (not /tmp itself).
	root, shared := fs.NewDir(t, "root"), fs.NewDir(t, "shared-parent", fs.WithDir("shared"))
	h := newHarness(t)
	network := "e2e-net-" + h.id
	h.docker("network", "create", network).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("network", "rm", network) })
	h.docker("tag", image, "e2e/env-image:"+h.id).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rmi", "e2e/env-image:"+h.id) })

	env := h.withEnv(
		"GATEWAY_WORKSPACE_IMAGE=e2e/env-image:"+h.id,
		"GATEWAY_WORKSPACE_DOCKER_NETWORK="+network,
		"GATEWAY_WORKSPACE_MOUNT_MODE=bind",
		"GATEWAY_WORKSPACE_ROOT="+root.Path(),
		"GATEWAY_SHARED_DIR="+shared.Join("shared"),
	)
	s := h.subdir("")
	env.ws("ensure", s).Assert(t, icmd.Success)
	c := h.inspect("modern", containerName(s))
	assert.Check(t, is.Equal(c.Config.Image, "e2e/env-image:"+h.id))
	_, _, src, _ := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(src, filepath.Join(root.Path(), s)))
	_, _, src, _ = c.mountAt(t, "/home/agent/shared")
	assert.Check(t, is.Equal(src, shared.Join("shared")))
	h.docker("inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", containerName(s)).
		Assert(t, icmd.Expected{Out: network})

	// A flag wins over the environment.
	s2 := h.subdir("-flag")
	env.ws("ensure", "--image", image, "--network", "bridge", s2).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s2)).Config.Image, image))

	// GATEWAY_WORKSPACE_DOCKER_ENABLED=false: ensure and stop do nothing.
	off := h.subdir("-off")
	res := env.withEnv("GATEWAY_WORKSPACE_DOCKER_ENABLED=false").ws("ensure", off)
	res.Assert(t, icmd.Expected{ExitCode: 0, Out: "", Err: "GATEWAY_WORKSPACE_DOCKER_ENABLED is false"})
	assert.Check(t, !h.exists("modern", containerName(off)))
	env.withEnv("GATEWAY_WORKSPACE_DOCKER_ENABLED=0").ws("stop", s).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))
}

// The plugins.workspace section of config.json configures ensure, below the
// environment.
func TestConfigFileConfiguration(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	root := fs.NewDir(t, "root")
	b, err := os.ReadFile(filepath.Join(env.configDir, "config.json"))
	assert.NilError(t, err)
	var cfg map[string]any
	assert.NilError(t, json.Unmarshal(b, &cfg))
	cfg["plugins"] = map[string]any{"workspace": map[string]string{"workspace-root": root.Path(), "init": "false"}}
	dir := t.TempDir()
	b, err = json.Marshal(cfg)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	assert.NilError(t, os.CopyFS(filepath.Join(dir, "contexts"), os.DirFS(filepath.Join(env.configDir, "contexts"))))

	s := h.subdir("")
	h.docker("--config", dir, "workspace", "ensure", s).Assert(t, icmd.Success)
	c := h.inspect("modern", containerName(s))
	_, _, src, _ := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(src, filepath.Join(root.Path(), s)))
	assert.Check(t, c.HostConfig.Init == nil || !*c.HostConfig.Init)

	other := fs.NewDir(t, "other")
	s2 := h.subdir("-env")
	h.withEnv("GATEWAY_WORKSPACE_ROOT="+other.Path()).docker("--config", dir, "workspace", "ensure", s2).Assert(t, icmd.Success)
	_, _, src, _ = h.inspect("modern", containerName(s2)).mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(src, filepath.Join(other.Path(), s2)))

	// A JSON boolean or number there (issue 22, 2): the docker CLI ignores
	// the whole file; the command refuses it, naming the key, and makes
	// nothing without the hardening it asks for.
	cfg["plugins"] = map[string]any{"workspace": map[string]any{"workspace-root": root.Path(), "read-only": true, "pids-limit": 100}}
	b, err = json.Marshal(cfg)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	// The file ignored, cliPluginsExtraDirs is too: the plugin where the
	// docker CLI looks without it.
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755))
	assert.NilError(t, os.Symlink(filepath.Join(env.configDir, "plugins", "docker-workspace"), filepath.Join(dir, "cli-plugins", "docker-workspace")))
	s3 := h.subdir("-typed")
	h.docker("--config", dir, "workspace", "ensure", s3).
		Assert(t, icmd.Expected{ExitCode: 125, Err: `"pids-limit" in the plugins.workspace section is 100, not a string`})
	assert.Check(t, !h.exists("modern", containerName(s3)))
	// Nor a file that is not JSON (a trailing comma): every setting of the
	// section would be dropped, the root among them (fourth new-user pass).
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"plugins":{"workspace":{"workspace-root":"`+root.Path()+`",}}}`), 0o600))
	h.docker("--config", dir, "workspace", "ensure", s3).Assert(t, icmd.Expected{ExitCode: 125, Err: "not valid JSON"})
	assert.Check(t, !h.exists("modern", containerName(s3)))
}

func TestPullNeverWithMissingImage(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	res := h.ws("ensure", "--pull", "never", "--image", "e2e/missing:"+h.id, s)
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: `image e2e/missing:` + h.id + ` is not on the engine and the pull policy is "never"`})
	assert.Check(t, !h.exists("modern", containerName(s)))
}

// No registry answers here: a pull fails, and says so naming the image.
func TestFailedPullIsReported(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	for _, pull := range []string{"missing", "always"} {
		res := h.ws("ensure", "--pull", pull, "--image", "e2e/missing:"+h.id, s)
		res.Assert(t, icmd.Expected{ExitCode: 1, Err: "pull image e2e/missing:" + h.id + ": "})
		assert.Check(t, !h.exists("modern", containerName(s)))
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	before := h.docker("ps", "-aq").Assert(t, icmd.Success).Stdout()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: []string{"ensure", "../escape"}, err: `invalid workspace subdir "../escape": it must not contain ".."`},
		{args: []string{"ensure", "/etc"}, err: `invalid workspace subdir "/etc": it must be relative`},
		{args: []string{"ensure", "a\tb"}, err: "control character"},
		{args: []string{"ensure", ""}, err: "invalid workspace subdir: it is empty"},
		{args: []string{"ensure", "--mount-mode", "nfs", "x"}, err: `--mount-mode: invalid mount mode "nfs"`},
		{args: []string{"ensure", "--mount-mode", "volume_subpath", "x"}, err: "volume_subpath mode needs a workspace volume and a shared volume"},
		{args: []string{"stop", "a/../../b"}, err: `must not contain ".."`},
	} {
		h.ws(tc.args...).Assert(t, icmd.Expected{ExitCode: 125, Err: tc.err})
	}
	assert.Check(t, is.Equal(h.docker("ps", "-aq").Stdout(), before))
	entries, err := os.ReadDir(h.dataDir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0), "bad input created %v", entries)
}

func TestCommandLine(t *testing.T) {
	h := newHarness(t)
	h.ws("bogus").Assert(t, icmd.Expected{ExitCode: 1, Err: "'bogus' is not a docker workspace command"})
	res := h.ws("ensure")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "requires at least 1 argument"})
	assert.Check(t, is.Contains(res.Stderr(), "Usage:  docker workspace ensure [OPTIONS] SUBDIR [SUBDIR...]"))
	h.ws("ensure", "--no-such-flag", "x").Assert(t, icmd.Expected{ExitCode: 125, Err: "unknown flag: --no-such-flag"})
	h.ws("version").Assert(t, icmd.Expected{Out: "docker-workspace version"})
	help := h.docker("--help").Assert(t, icmd.Success).Stdout()
	assert.Check(t, strings.Contains(help, "workspace*") && strings.Contains(help, "Manage workspace sandbox containers"), help)
}
