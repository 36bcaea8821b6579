package plugin

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// workspacesEngine is an engine whose workspace containers are those of a,
// b and stuck (subdirs "a", "b", "stuck"), in a state; "a-b" is a
// container of another workspace ("a b" sanitises to its name).
func workspacesEngine(state container.ContainerState) *sandboxtest.Engine {
	f := sandboxtest.NewEngine()
	for _, subdir := range []string{"a", "b", "stuck", "a-b"} {
		f.Add(sandbox.ContainerName(subdir), state, container.Config{Labels: map[string]string{sandbox.LabelSubdir: subdir, sandbox.LabelMode: "bind"}}, container.HostConfig{})
	}
	f.CallLog = nil
	return f
}

func TestStop(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	var timeouts []int
	var signals []string
	f := workspacesEngine(container.StateRunning)
	f.OnStop = func(c *sandboxtest.Ctr, opts container.StopOptions) error {
		mu.Lock() // stop runs in parallel
		defer mu.Unlock()
		timeouts, signals = append(timeouts, *opts.Timeout), append(signals, opts.Signal)
		if c.Name == "gws-stuck" {
			return errors.New("permission denied")
		}
		stopped = append(stopped, c.Name)
		return nil
	}
	c := newTestCLI(t, f, "")
	err := c.run("stop", "-t", "3", "a", "gone", "stuck", "gws-b", "a b")
	assert.Check(t, is.ErrorContains(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.ErrorContains(err, `container gws-a-b belongs to workspace "a-b", not "a b"`))
	assert.Check(t, is.Equal(c.out.String(), "a\ngws-b\n"))
	assert.Check(t, is.Equal(c.err.String(), "workspace \"gone\" has no container: nothing to stop\n"))
	sort.Strings(stopped)
	assert.Check(t, is.DeepEqual(stopped, []string{"gws-a", "gws-b"}))
	assert.Check(t, is.DeepEqual(timeouts, []int{3, 3, 3}))
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "list"), 1), "one list for all: %v", f.Calls())

	// By ID, full or its short form; docker's flags; a name or ID of nothing.
	stopped, timeouts, signals = nil, nil, nil
	c.out.Reset()
	a, b := f.ByName("gws-a").ID, f.ByName("gws-b").ID
	assert.NilError(t, c.run("stop", "--timeout", "0", "-s", "SIGKILL", a[:12], b))
	sort.Strings(stopped)
	assert.Check(t, is.DeepEqual(stopped, []string{"gws-a", "gws-b"}))
	assert.Check(t, is.DeepEqual(timeouts, []int{0, 0}))
	assert.Check(t, is.DeepEqual(signals, []string{"SIGKILL", "SIGKILL"}))
	err = c.run("stop", "gws-nobody", "eeeeeeeeeeee")
	assert.Check(t, is.ErrorContains(err, "no such workspace: gws-nobody"))
	assert.Check(t, is.ErrorContains(err, "no such workspace: eeeeeeeeeeee"))
	timeouts = nil
	assert.NilError(t, c.run("stop", "--time", "5", "a")) // deprecated, still taken
	assert.Check(t, is.DeepEqual(timeouts, []int{5}))
	timeouts = nil
	assert.NilError(t, c.run("stop", "a"))
	assert.Check(t, is.DeepEqual(timeouts, []int{sandbox.DefaultStopTimeout}))
}

func TestRemove(t *testing.T) {
	var mu sync.Mutex
	var removed []string
	f := workspacesEngine(container.StateExited)
	f.OnRemove = func(c *sandboxtest.Ctr, opts container.RemoveOptions) error {
		assert.Check(t, !opts.RemoveVolumes, "volumes removed")
		mu.Lock() // rm runs in parallel
		defer mu.Unlock()
		removed = append(removed, c.Name)
		return nil
	}
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("rm", "a", "gws-b"))
	assert.Check(t, is.Equal(c.out.String(), "a\ngws-b\n"))
	sort.Strings(removed)
	assert.Check(t, is.DeepEqual(removed, []string{"gws-a", "gws-b"}))

	// What names nothing: an error, as docker rm; with -f, said on stderr.
	removed = nil
	c.out.Reset()
	f = workspacesEngine(container.StateExited)
	c = newTestCLI(t, f, "")
	err := c.run("rm", "gone", "gws-gone", "a")
	assert.Check(t, is.ErrorContains(err, `no such workspace: workspace "gone" has no container`))
	assert.Check(t, is.ErrorContains(err, "no such workspace: gws-gone"))
	assert.Check(t, is.Equal(c.out.String(), "a\n"))
	c.out.Reset()
	assert.NilError(t, c.run("rm", "-f", "gone", "gws-gone", "eeeeeeeeeeee"))
	assert.Check(t, is.Equal(c.out.String(), ""))
	assert.Check(t, is.Contains(c.err.String(), "no such workspace: eeeeeeeeeeee"))

	// A running one only with -f.
	f = workspacesEngine(container.StateRunning)
	c = newTestCLI(t, f, "")
	assert.Check(t, is.ErrorContains(c.run("rm", "a"), "container gws-a is running: stop it first"))
	assert.Check(t, f.ByName("gws-a") != nil)
	assert.NilError(t, c.run("rm", "-f", "a"))
	assert.Check(t, f.ByName("gws-a") == nil)
}

// Two references to one workspace (its subdir and its container name) stop
// it once, and say each (third new-user pass: the library's loop stopped it
// twice).
func TestStopOnceForTwoReferences(t *testing.T) {
	f := workspacesEngine(container.StateRunning)
	c := newTestCLI(t, f, "")
	f.CallLog = nil
	assert.NilError(t, c.run("stop", "a", "gws-a"))
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "stop:gws-a"), 1), f.Calls())
	assert.Check(t, is.Equal(c.out.String(), "a\ngws-a\n"))
}
