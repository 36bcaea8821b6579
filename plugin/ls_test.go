package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// listingEngine holds two workspaces made two hours ago: alice (running,
// bind) and team/bob (exited, volume_subpath).
func listingEngine() *sandboxtest.Engine {
	f := sandboxtest.NewEngine()
	created := time.Now().Add(-2 * time.Hour)
	for _, w := range []struct{ id, subdir, mode, status string }{
		{"b0b0b0b0b0b0b0b0b0b0", "team/bob", "volume_subpath", "Exited (0) 5 minutes ago"},
		{"a1a1a1a1a1a1a1a1a1a1", "alice", "bind", "Up 2 hours"},
	} {
		state := container.StateExited
		if w.subdir == "alice" {
			state = container.StateRunning
		}
		c := f.Add(sandbox.ContainerName(w.subdir), state, container.Config{Image: "agent/workspace:latest",
			Labels: map[string]string{sandbox.LabelSubdir: w.subdir, sandbox.LabelMode: w.mode}}, container.HostConfig{})
		c.Status, c.Created = w.status, created
		f.SetID(c, w.id)
	}
	f.CallLog = nil
	return f
}

func TestListTable(t *testing.T) {
	c := newTestCLI(t, listingEngine(), "")
	assert.NilError(t, c.run("ls"))
	golden.Assert(t, c.out.String(), "ls-table.golden")
}

func TestListQuiet(t *testing.T) {
	c := newTestCLI(t, listingEngine(), "")
	assert.NilError(t, c.run("ls", "-q"))
	assert.Check(t, is.Equal(c.out.String(), "a1a1a1a1a1a1\nb0b0b0b0b0b0\n"))
	c.out.Reset()
	assert.NilError(t, c.run("ls", "-q", "--no-trunc"))
	assert.Check(t, is.Equal(c.out.String(), "a1a1a1a1a1a1a1a1a1a1\nb0b0b0b0b0b0b0b0b0b0\n"))
}

func TestListJSON(t *testing.T) {
	c := newTestCLI(t, listingEngine(), "")
	assert.NilError(t, c.run("ls", "--format", "json"))
	got := jsonLines(t, c.out.String())
	assert.Assert(t, is.Len(got, 2))
	assert.Check(t, is.Equal(got[0]["Subdir"], "alice"))
	assert.Check(t, is.Equal(got[0]["Name"], "gws-alice"))
	assert.Check(t, is.Equal(got[0]["State"], "running"))
	assert.Check(t, is.Equal(got[0]["Mode"], "bind"))
	assert.Check(t, is.Equal(got[0]["RunningFor"], "2 hours ago"))
	assert.Check(t, is.Equal(got[1]["Subdir"], "team/bob"))
	assert.Check(t, is.Equal(got[1]["Mode"], "volume_subpath"))
	assert.Check(t, is.Equal(got[1]["ID"], "b0b0b0b0b0b0"))
}

func TestListTemplate(t *testing.T) {
	c := newTestCLI(t, listingEngine(), "")
	assert.NilError(t, c.run("ls", "--format", "{{.Subdir}}={{.State}}"))
	assert.Check(t, is.Equal(c.out.String(), "alice=running\nteam/bob=exited\n"))
	c.out.Reset()
	assert.NilError(t, c.run("ls", "--format", "table {{.Subdir}}\t{{.Mode}}"))
	golden.Assert(t, c.out.String(), "ls-table-custom.golden")
}

// DRIFT by default: what changed under a container (its image reference
// names another image now), one image inspect per reference, without any
// configuration; --check-config compares with the configuration.
func TestListDrift(t *testing.T) {
	f := listingEngine()
	f.ByName("gws-team-bob").ImageID = "sha256:old" // the reference moved on
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ls", "--format", "{{.Subdir}} {{.Drift}}"))
	assert.Check(t, is.Equal(c.out.String(), "alice []\nteam/bob [image]\n"))
	assert.Check(t, is.Equal(f.Calls(), "list image:agent/workspace:latest"))

	c.out.Reset()
	assert.NilError(t, c.run("ls", "--check-config", "--format", "{{.Subdir}} {{.Drift}}"))
	assert.Check(t, is.Equal(c.out.String(), "alice [unknown]\nteam/bob [unknown]\n"), "no recorded configuration to compare with")
}

func TestListFilters(t *testing.T) {
	f := listingEngine()
	f.ByName("gws-team-bob").Cfg.Labels[sandbox.LabelComposeProject] = "gw"
	f.ByName("gws-team-bob").Cfg.Labels["team"] = "blue"
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{[]string{"subdir=alice"}, "alice\n"},
		{[]string{"subdir=alice", "subdir=team/bob"}, "alice\nteam/bob\n"},
		{[]string{"status=exited"}, "team/bob\n"},
		{[]string{"status=running", "mode=bind"}, "alice\n"},
		{[]string{"mode=volume_subpath"}, "team/bob\n"},
		{[]string{"compose-project=gw"}, "team/bob\n"},
		{[]string{"label=team"}, "team/bob\n"},
		{[]string{"label=team=red"}, ""},
		{[]string{"name=bob"}, "team/bob\n"},
		{[]string{"name=^gws-a"}, "alice\n"},
		{[]string{"id=a1a1"}, "alice\n"},
		{[]string{"drift=no"}, "alice\nteam/bob\n"},
		{[]string{"drift=yes"}, ""},
	} {
		c := newTestCLI(t, f, "")
		args := []string{"ls", "--format", "{{.Subdir}}"}
		for _, flt := range tc.filters {
			args = append(args, "--filter", flt)
		}
		assert.NilError(t, c.run(args...))
		assert.Check(t, is.Equal(c.out.String(), tc.want), "%v", tc.filters)
	}
}

// The fields docker ps users type work.
func TestListDockerPsFields(t *testing.T) {
	f := listingEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ls", "--filter", "subdir=alice", "--format", `{{.Names}} {{.Label "docker-workspace.mode"}} {{.Labels}}`))
	assert.Check(t, is.Equal(c.out.String(), "gws-alice bind docker-workspace.mode=bind,docker-workspace.subdir=alice\n"))
}

// A subdir that would deceive the eye (made by hand: ensure refuses it) is
// shown escaped.
func TestListEscapesDeceptiveSubdirs(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Add("gws-x", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "evil\u202egnp.exe", sandbox.LabelMode: "bind"}}, container.HostConfig{})
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ls", "--format", "{{.Subdir}}"))
	assert.Check(t, is.Equal(c.out.String(), `"evil\u202Egnp.exe"`+"\n"))
}

// ls -a (docker ps -a) is taken, and lists what ls lists (issue 22, Low).
func TestListAllIsAccepted(t *testing.T) {
	c := newTestCLI(t, workspacesEngine(container.StateExited), "")
	assert.NilError(t, c.run("ls", "-q"))
	want := c.out.String()
	c.out.Reset()
	assert.NilError(t, c.run("ls", "-a", "-q"))
	assert.Check(t, is.Equal(c.out.String(), want))
	assert.Check(t, want != "")
}

// ls of a Swarm manager's engine that has no workspace container hints at
// the services (issue 22, Low); with containers, or filtered, it does not.
func TestListHintsAtSwarmServices(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.SwarmManager = true
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ls"))
	assert.Check(t, is.Contains(c.err.String(), "docker workspace ls --orchestrator swarm"))
	c = newTestCLI(t, workspacesEngine(container.StateRunning), "")
	assert.NilError(t, c.run("ls"))
	assert.Check(t, is.Equal(c.err.String(), ""))
}

// A drift filter that only a comparison with the configuration can match
// implies --check-config (second new-user pass: it matched nothing).
func TestDriftFilterImpliesCheckConfig(t *testing.T) {
	for v, want := range map[string]bool{"yes": false, "no": false, "image": false, "unknown": false, "limits": true, "mounts": true} {
		assert.Check(t, is.Equal(needsConfig(filters.NewArgs(filters.Arg("drift", v))), want), v)
	}
}

// An image that is only an ID (its tag moved on) is shown short, as
// docker ps shows it, unless --no-trunc (new-user pass 7).
func TestListImageIDIsShort(t *testing.T) {
	id := "sha256:6ba0182455548fdc" + strings.Repeat("0", 48)
	c := &listContext{w: sandbox.Workspace{Image: id}, trunc: true}
	assert.Check(t, is.Equal(c.Image(), "6ba018245554"))
	c.trunc = false
	assert.Check(t, is.Equal(c.Image(), id))
	c = &listContext{w: sandbox.Workspace{Image: "agent/workspace:latest"}, trunc: true}
	assert.Check(t, is.Equal(c.Image(), "agent/workspace:latest"))
}
