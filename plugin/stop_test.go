package plugin

import (
	"errors"
	"sort"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// workspacesAPI is an engine whose workspace containers are a, b and
// stuck (subdirs "a", "b", "stuck"), in a state; "a-b" is a container of
// another workspace ("a b" sanitises to its name).
func workspacesAPI(state container.ContainerState) *fakeAPI {
	ctr := func(id, subdir string) container.Summary {
		return container.Summary{ID: id, Names: []string{"/" + sandbox.ContainerName(subdir)}, State: state,
			Labels: map[string]string{sandbox.LabelSubdir: subdir, sandbox.LabelMode: "bind"}}
	}
	return &fakeAPI{listFn: func(container.ListOptions) ([]container.Summary, error) {
		return []container.Summary{
			ctr("aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111", "a"),
			ctr("bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222", "b"),
			ctr("cccccccccccc3333333333333333333333333333333333333333333333333333", "stuck"),
			ctr("dddddddddddd4444444444444444444444444444444444444444444444444444", "a-b"),
		}, nil
	}}
}

func TestStop(t *testing.T) {
	var stopped []string
	var timeouts []int
	var signals []string
	f := workspacesAPI(container.StateRunning)
	f.stopFn = func(id string, opts container.StopOptions) error {
		f.mu.Lock() // stop runs in parallel
		defer f.mu.Unlock()
		timeouts, signals = append(timeouts, *opts.Timeout), append(signals, opts.Signal)
		if strings.HasPrefix(id, "cccc") {
			return errors.New("permission denied")
		}
		stopped = append(stopped, id[:4])
		return nil
	}
	c := newTestCLI(t, f, "")
	err := c.run("stop", "-t", "3", "a", "gone", "stuck", "gws-b", "a b")
	assert.Check(t, is.ErrorContains(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.ErrorContains(err, `container gws-a-b belongs to workspace "a-b", not "a b"`))
	assert.Check(t, is.Equal(c.out.String(), "a\ngws-b\n"))
	assert.Check(t, is.Equal(c.err.String(), "workspace \"gone\" has no container: nothing to stop\n"))
	sort.Strings(stopped)
	assert.Check(t, is.DeepEqual(stopped, []string{"aaaa", "bbbb"}))
	assert.Check(t, is.DeepEqual(timeouts, []int{3, 3, 3}))
	assert.Check(t, is.Equal(strings.Count(strings.Join(f.calls, " "), "list"), 1), "one list for all: %v", f.calls)

	// By ID, full or its short form; docker's flags; a name or ID of nothing.
	stopped, timeouts, signals = nil, nil, nil
	c.out.Reset()
	assert.NilError(t, c.run("stop", "--timeout", "0", "-s", "SIGKILL", "aaaaaaaaaaaa", "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"))
	sort.Strings(stopped)
	assert.Check(t, is.DeepEqual(stopped, []string{"aaaa", "bbbb"}))
	assert.Check(t, is.DeepEqual(timeouts, []int{0, 0}))
	assert.Check(t, is.DeepEqual(signals, []string{"SIGKILL", "SIGKILL"}))
	err = c.run("stop", "gws-nobody", "eeeeeeeeeeee")
	assert.Check(t, is.ErrorContains(err, "no such workspace container: gws-nobody"))
	assert.Check(t, is.ErrorContains(err, "no such workspace container: eeeeeeeeeeee"))
	timeouts = nil
	assert.NilError(t, c.run("stop", "--time", "5", "a")) // deprecated, still taken
	assert.Check(t, is.DeepEqual(timeouts, []int{5}))
}

func TestRemove(t *testing.T) {
	var removed []string
	f := workspacesAPI(container.StateExited)
	f.removeFn = func(id string, opts container.RemoveOptions) error {
		assert.Check(t, !opts.RemoveVolumes, "volumes removed")
		f.mu.Lock() // rm runs in parallel
		defer f.mu.Unlock()
		removed = append(removed, id[:4])
		return nil
	}
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("rm", "a", "gws-b"))
	assert.Check(t, is.Equal(c.out.String(), "a\ngws-b\n"))
	sort.Strings(removed)
	assert.Check(t, is.DeepEqual(removed, []string{"aaaa", "bbbb"}))

	// What names nothing: an error, as docker rm; with -f, nothing at all.
	removed = nil
	c.out.Reset()
	err := c.run("rm", "gone", "gws-gone", "a")
	assert.Check(t, is.ErrorContains(err, `no such workspace container: workspace "gone" has none`))
	assert.Check(t, is.ErrorContains(err, "no such workspace container: gws-gone"))
	assert.Check(t, is.Equal(c.out.String(), "a\n"))
	c.out.Reset()
	assert.NilError(t, c.run("rm", "-f", "gone", "gws-gone", "eeeeeeeeeeee"))
	assert.Check(t, is.Equal(c.out.String(), ""))

	// A running one only with -f.
	f = workspacesAPI(container.StateRunning)
	f.removeFn = func(id string, _ container.RemoveOptions) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		removed = append(removed, id[:4])
		return nil
	}
	c = newTestCLI(t, f, "")
	removed = nil
	assert.Check(t, is.ErrorContains(c.run("rm", "a"), "container gws-a is running: stop it first"))
	assert.Check(t, is.Len(removed, 0))
	assert.NilError(t, c.run("rm", "-f", "a"))
	assert.Check(t, is.DeepEqual(removed, []string{"aaaa"}))
}

// ownContainers is an inspect of an engine where every workspace but
// "gone" has a container of its own in a state.
func ownContainers(status container.ContainerState) func(string) (container.InspectResponse, error) {
	return func(name string) (container.InspectResponse, error) {
		if name == "gws-gone" {
			return container.InspectResponse{}, cerrdefs.ErrNotFound
		}
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{
				ID: "id-" + name, Name: "/" + name,
				State: &container.State{Status: status, Running: status == container.StateRunning},
			},
			Config: &container.Config{Labels: map[string]string{sandbox.LabelSubdir: strings.TrimPrefix(name, sandbox.NamePrefix)}},
		}, nil
	}
}
