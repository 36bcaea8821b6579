package plugin

import (
	"bytes"

	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"

	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// created is the config and host config of the container the engine
// holds under name.
func created(t *testing.T, f *sandboxtest.Engine, name string) (*container.Config, *container.HostConfig) {
	t.Helper()
	c := f.ByName(name)
	assert.Assert(t, c != nil, "no container %s: %v", name, f.Names())
	return &c.Cfg, &c.HC
}

// idOf is the ID of the first container the fake engine made for subdir.
func idOf(subdir string) string { return sandboxtest.IDOf(subdir, 1) }

// testCLI is a docker CLI over a fake engine, with its own config dir
// (holding configJSON, if any) and none of the caller's environment.
type testCLI struct {
	*command.DockerCli
	out, err *bytes.Buffer
}

func newTestCLI(t *testing.T, api client.APIClient, configJSON string) *testCLI {
	t.Helper()
	exit = func(int) {} // the StatusError is returned to the test instead
	for _, env := range os.Environ() {
		if k, _, _ := strings.Cut(env, "="); strings.HasPrefix(k, "GATEWAY_") || strings.HasPrefix(k, "DOCKER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	configDir := t.TempDir()
	if configJSON != "" {
		assert.NilError(t, os.WriteFile(filepath.Join(configDir, "config.json"), []byte(configJSON), 0o600))
	}
	out, errb := new(bytes.Buffer), new(bytes.Buffer)
	dockerCLI, err := command.NewDockerCli(
		command.WithAPIClient(api),
		command.WithInputStream(io.NopCloser(strings.NewReader(""))),
		command.WithOutputStream(out),
		command.WithErrorStream(errb),
	)
	assert.NilError(t, err)
	opts := flags.NewClientOptions()
	opts.ConfigDir = configDir
	assert.NilError(t, dockerCLI.Initialize(opts))
	return &testCLI{DockerCli: dockerCLI, out: out, err: errb}
}

// run runs `docker workspace ARGS...` under a root command set up as the
// plugin framework sets up its own (docker's usage and help templates), and
// returns its error.
func (c *testCLI) run(args ...string) error {
	root := &cobra.Command{Use: "docker", SilenceErrors: true, SilenceUsage: true, TraverseChildren: true}
	cli.SetupPluginRootCommand(root)
	root.AddCommand(NewRootCommand(c, BuildInfo{Version: "v1.2.3", Commit: "abc"}, args))
	root.SetArgs(append([]string{Name}, args...))
	root.SetOut(c.out)
	root.SetErr(c.err)
	return root.ExecuteContext(context.Background())
}

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		assert.NilError(t, json.Unmarshal([]byte(line), &m), "line %q", line)
		out = append(out, m)
	}
	return out
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
