package plugin

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func TestEnsureHardenedProfile(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--profile", "hardened", "a"))
	cfg, hc := created(t, f, "gws-a")
	assert.Check(t, is.DeepEqual([]string(hc.CapDrop), []string{"ALL"}))
	assert.Check(t, is.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges"}))
	assert.Check(t, hc.PidsLimit != nil && *hc.PidsLimit == 512)
	assert.Check(t, hc.ReadonlyRootfs)
	assert.Check(t, is.Contains(hc.Tmpfs, "/tmp"))
	assert.Check(t, *hc.Init)
	assert.Check(t, is.Equal(cfg.User, "agent"), "the image's user")

	// Explicit values, from flags or the environment, override the profile.
	f = sandboxtest.NewEngine()
	c = newTestCLI(t, f, "")
	t.Setenv("GATEWAY_WORKSPACE_PIDS_LIMIT", "64")
	assert.NilError(t, c.run("ensure", "--profile", "hardened", "--read-only=false", "--cap-drop", "NET_RAW", "--cap-add", "CHOWN", "a"))
	_, hc = created(t, f, "gws-a")
	assert.Check(t, is.DeepEqual([]string(hc.CapDrop), []string{"NET_RAW"}))
	assert.Check(t, is.DeepEqual([]string(hc.CapAdd), []string{"CHOWN"}))
	assert.Check(t, hc.PidsLimit != nil && *hc.PidsLimit == 64)
	assert.Check(t, !hc.ReadonlyRootfs)
	assert.Check(t, is.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges"}))

	// The profile itself can come from the environment.
	f = sandboxtest.NewEngine()
	c = newTestCLI(t, f, "")
	t.Setenv("GATEWAY_WORKSPACE_PROFILE", "hardened")
	assert.NilError(t, c.run("ensure", "a"))
	_, hc = created(t, f, "gws-a")
	assert.Check(t, is.DeepEqual([]string(hc.CapDrop), []string{"ALL"}))
}

func TestEnsureLimitsAndLists(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, `{"plugins": {"workspace": {"label": "[\"team=blue\", \"note=a,b\"]"}}}`)
	t.Setenv("GATEWAY_WORKSPACE_SECURITY_OPT", "no-new-privileges, seccomp=unconfined")
	t.Setenv("GATEWAY_WORKSPACE_MEMORY", "512m")
	assert.NilError(t, c.run("ensure", "--cpus", "1.5", "--user", "1000:1000", "-e", "A=1,2", "-e", "B=3", "a"))
	cfg, hc := created(t, f, "gws-a")
	assert.Check(t, is.Equal(hc.NanoCPUs, int64(1_500_000_000)))
	assert.Check(t, is.Equal(hc.Memory, int64(512<<20)))
	assert.Check(t, is.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges", "seccomp=unconfined"}))
	assert.Check(t, is.Equal(cfg.User, "1000:1000"))
	assert.Check(t, is.DeepEqual(cfg.Env, []string{"A=1,2", "B=3"}))
	assert.Check(t, is.Equal(cfg.Labels["team"], "blue"))
	assert.Check(t, is.Equal(cfg.Labels["note"], "a,b"))
}

func TestEnsureRefusesBadHardening(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: []string{"--profile", "paranoid"}, err: `invalid profile "paranoid"`},
		{args: []string{"--cpus", "lots"}, err: `--cpus: invalid number of CPUs "lots"`},
		{args: []string{"--memory", "big"}, err: `--memory: invalid memory limit "big"`},
		{args: []string{"--recreate", "sometimes"}, err: `invalid recreate policy "sometimes"`},
		{args: []string{"--label", "docker-workspace.subdir=x"}, err: "reserved"},
		{args: []string{"--label", "=x"}, err: `invalid label "=x"`},
		{args: []string{"--env", "=novalue"}, err: "must be KEY=VALUE, or KEY"},
		{args: []string{"--parallel", "0"}, err: "invalid --parallel 0"},
	} {
		f := sandboxtest.NewEngine()
		c := newTestCLI(t, f, "")
		err := c.run(append(append([]string{"ensure"}, tc.args...), "a")...)
		assert.Check(t, is.ErrorContains(err, tc.err), "%v", tc.args)
		assert.Check(t, is.Equal(exitCode(err), 125), "%v", tc.args)
		assert.Check(t, is.Equal(f.Calls(), ""), "%v", tc.args)
	}
}

// Many subdirs run at once, at most --parallel of them, and print in the
// order given.
func TestEnsureParallel(t *testing.T) {
	f := sandboxtest.NewEngine()
	var running, most atomic.Int32
	f.OnStart = func(ctr *sandboxtest.Ctr) error {
		f.Mu.Unlock() // let the others start meanwhile
		defer f.Mu.Lock()
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		if ctr.Name == "gws-s07" {
			return fmt.Errorf("boom")
		}
		return nil
	}
	c := newTestCLI(t, f, "")
	var subdirs, want []string
	for i := range 20 {
		s := fmt.Sprintf("s%02d", i)
		subdirs = append(subdirs, s)
		if s != "s07" {
			want = append(want, idOf(s))
		}
	}
	err := c.run(append([]string{"ensure", "--parallel", "4"}, subdirs...)...)
	assert.Check(t, is.Error(err, `workspace "s07": start container gws-s07: boom`))
	assert.Check(t, is.Equal(c.out.String(), strings.Join(want, "\n")+"\n"))
	assert.Check(t, most.Load() > 1 && most.Load() <= 4, "at most %d at once", most.Load())
}

func TestEnsureWarnsOfDrift(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.Add("gws-a", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelSubdir: "a"}}, container.HostConfig{})
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("ensure", "--format", "{{.Action}} {{.Drift}}", "a"))
	assert.Check(t, is.Equal(c.out.String(), "running [unknown]\n"))
	assert.Check(t, is.Equal(c.err.String(), `warning: workspace "a": container gws-a differs from the configuration (unknown); kept, use --recreate if-changed to replace it`+"\n"))
}

// --env KEY takes this environment's value, as docker run -e KEY; one not
// set here is left out (new-user pass 14: it was refused).
func TestEnvWithoutValue(t *testing.T) {
	f := sandboxtest.NewEngine()
	c := newTestCLI(t, f, "")
	t.Setenv("NV_SET", "from-here")
	assert.NilError(t, c.run("ensure", "--env", "NV_SET", "--env", "NV_UNSET_HOPEFULLY", "--env", "A=b", "a"))
	env := f.ByName("gws-a").Cfg.Env
	assert.Check(t, is.Contains(env, "NV_SET=from-here"))
	assert.Check(t, is.Contains(env, "A=b"))
	for _, e := range env {
		assert.Check(t, !strings.HasPrefix(e, "NV_UNSET_HOPEFULLY"), env)
	}
}
