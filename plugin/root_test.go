package plugin

import (
	"testing"

	"github.com/docker/cli/cli"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func TestUnknownSubcommandFails(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	err := c.run("bogus")
	var st cli.StatusError
	assert.Assert(t, errorsAs(err, &st), "%v", err)
	assert.Check(t, is.Equal(st.StatusCode, 1))
	assert.Check(t, is.ErrorContains(err, "'bogus' is not a docker workspace command"))
	// docker's words for what ensure does point to it (issue 22, Low).
	for _, word := range []string{"start", "create", "run"} {
		assert.Check(t, is.ErrorContains(c.run(word, "a"), "Did you mean this?\n\tensure"), word)
	}
}

func TestUsageErrors(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	for args, usage := range map[string]string{"ensure": "SUBDIR [SUBDIR...]", "stop": "WORKSPACE [WORKSPACE...]", "rm": "WORKSPACE [WORKSPACE...]"} {
		err := c.run(args)
		assert.Check(t, is.ErrorContains(err, "requires at least 1 argument"), "%v", args)
		assert.Check(t, is.ErrorContains(err, "Usage:  docker workspace "+args+" [OPTIONS] "+usage), "%v", args)
	}
	assert.Check(t, is.ErrorContains(c.run("ls", "extra"), `'docker workspace ls' accepts no arguments`))
}

func TestHelp(t *testing.T) {
	for _, name := range []string{"ensure", "stop", "rm", "ls"} {
		c := newTestCLI(t, sandboxtest.NewEngine(), "")
		t.Setenv("XDG_DATA_HOME", "/home/you/.local/share")
		assert.NilError(t, c.run(name, "--help"))
		golden.Assert(t, c.out.String(), name+"-help.golden")
	}
}

func TestVersion(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.NilError(t, c.run("version"))
	assert.Check(t, is.Contains(c.out.String(), "docker-workspace version v1.2.3, build abc"))
}

// exitCode is the exit code an error gives: a StatusError's, else 1.
func exitCode(err error) int {
	var st cli.StatusError
	if errorsAs(err, &st) {
		return st.StatusCode
	}
	if err != nil {
		return 1
	}
	return 0
}

// The names a subcommand is found by before it is made are those it has.
func TestSubcommandNames(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	for _, sc := range subcommands(c, BuildInfo{}) {
		cmd := sc.make()
		assert.Check(t, is.DeepEqual(sc.names, append([]string{cmd.Name()}, cmd.Aliases...)))
	}
}

// A run builds the subcommands its command line names, all when it names
// none.
func TestRootBuildsWhatRuns(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	names := func(args ...string) []string {
		var out []string
		for _, cmd := range NewRootCommand(c, BuildInfo{}, args).Commands() {
			out = append(out, cmd.Name())
		}
		return out
	}
	assert.Check(t, is.DeepEqual(names("workspace", "--orchestrator", "engine", "exec", "-it", "alice", "sh"), []string{"exec"}))
	assert.Check(t, is.DeepEqual(names("workspace", "ps", "-a"), []string{"ls"}))
	assert.Check(t, is.DeepEqual(names("workspace", "ensure", "stop"), []string{"ensure", "stop"}))
	all := names("workspace", "--help")
	assert.Check(t, is.Len(all, len(subcommands(c, BuildInfo{}))))
	assert.Check(t, is.DeepEqual(names(), all))
	assert.Check(t, is.DeepEqual(names("workspace", "__complete", "e"), all))
}

// version takes --format as docker version does (issue 22, Low).
func TestVersionFormat(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.NilError(t, c.run("version", "--format", "json"))
	assert.Check(t, is.Contains(c.out.String(), `"Version":"v1.2.3","Commit":"abc"`))
	c.out.Reset()
	assert.NilError(t, c.run("version", "-f", "{{.Version}}"))
	assert.Check(t, is.Equal(c.out.String(), "v1.2.3\n"))
	assert.Check(t, is.ErrorContains(c.run("version", "-f", "{{.Nope}}"), "invalid --format"))
}

// --orchestrator completes its values (issue 22, Low).
func TestOrchestratorCompletes(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	root := NewRootCommand(c, BuildInfo{}, nil)
	fn, ok := root.GetFlagCompletionFunc("orchestrator")
	assert.Assert(t, ok)
	got, _ := fn(root, nil, "")
	assert.Check(t, is.DeepEqual(got, []string{"engine", "swarm"}))
}

// --version says the version, as docker compose --version (issue 22, Low).
func TestVersionFlag(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.NilError(t, c.run("--version"))
	assert.Check(t, is.Equal(c.out.String(), "docker-workspace version v1.2.3, build abc\n"))
}

// ls --filter completes its keys, and the values of status=, mode= and
// drift= (issue 22, Low).
func TestListFilterCompletes(t *testing.T) {
	got, _ := completeListFilter(nil, nil, "")
	assert.Check(t, is.Contains(got, "status="))
	got, _ = completeListFilter(nil, nil, "status=")
	assert.Check(t, is.Contains(got, "status=exited"))
	assert.Check(t, is.Len(got, 7))
	got, _ = completeListFilter(nil, nil, "mode=")
	assert.Check(t, is.DeepEqual(got, []string{"mode=bind", "mode=volume_subpath"}))
}

// The binary on its own takes --version too (its global flags and the
// root's must not clash: a clash panics, exit 2, under Compose).
func TestStandaloneVersion(t *testing.T) {
	assert.Check(t, is.Equal(RunStandalone(BuildInfo{Version: "v1", Commit: "c"}, []string{"--version"}), 0))
	assert.Check(t, is.Equal(RunStandalone(BuildInfo{Version: "v1", Commit: "c"}, []string{"--help"}), 0))
}
