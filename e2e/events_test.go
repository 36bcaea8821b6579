package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// eventFormat is the --format the tests read events with.
const eventFormat = "{{.Kind}} {{.Reason}} {{.Subdir}}{{if .ExitCode}} exit={{.ExitCode}}{{end}}{{if .Detail}} {{.Detail}}{{end}}"

// eventsBetween replays the events of one workspace between since and
// now, as `events --since --until` gives them.
func (h *harness) eventsBetween(t *testing.T, since time.Time, subdir string, ctx ...string) []string {
	t.Helper()
	args := append(append([]string{}, ctx...), "workspace", "events", "--since", since.Format(time.RFC3339Nano),
		"--until", time.Now().Add(time.Second).Format(time.RFC3339Nano), "--filter", "subdir="+subdir, "--format", eventFormat)
	res := h.docker(args...)
	res.Assert(t, icmd.Success)
	return strings.Split(strings.TrimSpace(res.Stdout()), "\n")
}

// Each event kind with its reason, from our verbs and from plain docker
// commands, replayed with --since (issue 19).
func TestEvents(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s, r, m := h.subdir(""), h.subdir("-reaped"), h.subdir("-oom")
	since := time.Now().Add(-time.Second)
	ctr := containerName(s)

	h.ws("ensure", s).Assert(t, icmd.Success)                         // created, started
	h.ws("stop", s).Assert(t, icmd.Success)                           // stopped
	h.ws("exec", s, "true").Assert(t, icmd.Success)                   // started: exec wakes it
	h.docker("pause", ctr).Assert(t, icmd.Success)                    // paused, by plain docker
	h.ws("cp", s+":/etc/hostname", "-").Assert(t, icmd.Success)       // unpaused: cp wakes it
	h.ws("update", "--memory", "100m", s).Assert(t, icmd.Success)     // updated
	h.ws("ensure", "--memory", "200m", s).Assert(t, icmd.Success)     // drift
	h.ws("ensure", "--recreate", "always", s).Assert(t, icmd.Success) // stopped, recreated, started
	h.ws("exec", s, "sh", "-c", "kill 1")                             // died: the tenant kills its init
	h.docker("start", ctr).Assert(t, icmd.Success)                    // started, by plain docker
	h.ws("rm", "-f", s).Assert(t, icmd.Success)                       // stopped, removed

	assert.Check(t, is.DeepEqual(h.eventsBetween(t, since, s), []string{
		"created user " + s, "started user " + s,
		"stopped user " + s,
		"started user " + s,
		"paused user " + s, "unpaused user " + s,
		"updated user " + s,
		"drift user " + s + " limits",
		"stopped user " + s, "recreated user " + s, "started user " + s,
		"died engine " + s + " exit=143",
		"started user " + s,
		"stopped user " + s + " exit=137", "removed user " + s,
	}))

	// The reaper says its reason; a verb that uses the workspace wakes it.
	h.ws("ensure", r).Assert(t, icmd.Success)
	time.Sleep(1500 * time.Millisecond)
	h.ws("reap", "--once", "--action", "pause", "--idle-for", "1s", "--filter", "subdir="+r).Assert(t, icmd.Success)
	h.ws("exec", r, "true").Assert(t, icmd.Success)
	time.Sleep(1500 * time.Millisecond)
	h.ws("reap", "--once", "--idle-for", "1s", "--filter", "subdir="+r).Assert(t, icmd.Success)
	got := h.eventsBetween(t, since, r)
	assert.Check(t, is.DeepEqual(got[2:], []string{"paused reaper " + r, "unpaused user " + r, "stopped reaper " + r}), "%v", got)

	// The kernel's OOM killer, of a process over the workspace's memory.
	h.ws("ensure", "--memory", "64m", m).Assert(t, icmd.Success)
	h.ws("exec", m, "tail", "/dev/zero").Assert(t, icmd.Expected{ExitCode: 137})
	assert.Check(t, is.Contains(h.eventsBetween(t, since, m), "oom engine "+m))

	// Filters and the JSON form.
	res := h.ws("events", "--since", since.Format(time.RFC3339Nano), "--until", time.Now().Format(time.RFC3339Nano),
		"--filter", "reason=reaper", "--filter", "subdir="+r, "--format", "json")
	res.Assert(t, icmd.Success)
	lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
	assert.Check(t, is.Len(lines, 2), res.Stdout())
	assert.Check(t, is.Contains(lines[0], `"Kind":"paused","Reason":"reaper","Subdir":"`+r+`","Name":"`+containerName(r)+`"`))
	h.ws("events", "--filter", "event=exploded").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid event "exploded"`})
	h.ws("events", "--since", "yesterday").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid --since "yesterday"`})
}

// events streams: what happens now shows within a second or so, from a
// plain docker command too; the latency is logged, not asserted.
func TestEventsStream(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	cmd := exec.Command("docker", "--config", env.configDir, "workspace", "events", "--filter", "subdir="+s, "--format", eventFormat)
	cmd.Env = h.env
	out, err := cmd.StdoutPipe()
	assert.NilError(t, err)
	assert.NilError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond) // the stream is open
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"pause", containerName(s)}, "paused user " + s},
		{[]string{"unpause", containerName(s)}, "unpaused user " + s},
		{[]string{"stop", containerName(s)}, "stopped user " + s},
	} {
		start := time.Now()
		h.docker(step.args...).Assert(t, icmd.Success)
		select {
		case l := <-lines:
			assert.Check(t, is.Equal(strings.SplitN(l, " exit=", 2)[0], step.want))
			t.Logf("%s: told %s after docker %s returned", step.want, time.Since(start), step.args[0])
		case <-time.After(30 * time.Second):
			t.Fatalf("no event for docker %s", step.args[0])
		}
	}
}

// Suspend and wake, 100 times: paused (processes frozen, memory kept) and
// woken by exec and cp, then stopped and woken by exec, ensure and cp.
// The files are the same all along (checksums), and, across pauses, the
// same background process runs (issue 19).
func TestSuspendAndWakeKeepEverything(t *testing.T) {
	t.Parallel() // long: beside the other long ones, once the others are done
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	ctr := containerName(s)
	h.ws("ensure", s).Assert(t, icmd.Success)
	h.ws("exec", s, "sh", "-c", "mkdir d && for i in 1 2 3 4 5 6 7 8; do head -c 200000 /dev/urandom > d/f$i; done").Assert(t, icmd.Success)
	sums := func() string {
		return h.ws("exec", s, "sh", "-c", "cd d && sha256sum f*").Assert(t, icmd.Success).Stdout()
	}
	want := sums()
	h.ws("exec", "-d", s, "sh", "-c", "echo $$ > /tmp/bg.pid; exec sleep 100000").Assert(t, icmd.Success)
	var pid string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		pid = strings.TrimSpace(h.docker("exec", ctr, "cat", "/tmp/bg.pid").Stdout())
		if pid == "" {
			return poll.Continue("no background process yet")
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second))
	cycles := envInt("E2E_SUSPEND_CYCLES", 100)
	out := t.TempDir()
	for i := range cycles {
		pause := i < cycles/2
		if pause {
			h.docker("pause", ctr).Assert(t, icmd.Success) // as the reaper's --action pause
		} else {
			h.ws("stop", s).Assert(t, icmd.Success)
		}
		switch i % 3 {
		case 0:
			assert.Equal(t, sums(), want, "cycle %d: the files changed", i)
		case 1:
			h.ws("cp", s+":d/f3", fmt.Sprintf("%s/f3-%d", out, i)).Assert(t, icmd.Success)
			assert.Equal(t, sums(), want, "cycle %d: the files changed", i)
		default:
			h.ws("ensure", s).Assert(t, icmd.Success)
			assert.Equal(t, sums(), want, "cycle %d: the files changed", i)
		}
		if pause {
			h.docker("exec", ctr, "kill", "-0", pid).Assert(t, icmd.Success)
		}
	}
	assert.Check(t, is.Equal(h.inspect("modern", ctr).State.Status, "running"))
	b, err := os.ReadFile(fmt.Sprintf("%s/f3-%d", out, 1))
	assert.NilError(t, err)
	assert.Check(t, is.Len(b, 200000))
}

// On Swarm: the services' events from the manager, and their tasks'
// containers' from the nodes' engines (issue 19).
func TestSwarmEvents(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-ev")
	since := time.Now().Add(-time.Second)
	s.ws("ensure", a).Assert(t, icmd.Success)
	s.ws("stop", a).Assert(t, icmd.Success)
	s.ws("exec", a, "true").Assert(t, icmd.Success) // wakes it
	s.ws("rm", "-f", a).Assert(t, icmd.Success)
	res := s.docker("--context", "swarm", "workspace", "events", "--since", since.Format(time.RFC3339Nano),
		"--until", time.Now().Add(time.Second).Format(time.RFC3339Nano), "--filter", "subdir="+a,
		"--format", "{{.Unit}} {{.Kind}} {{.Reason}}{{if .Node}} on-node{{end}}")
	res.Assert(t, icmd.Success)
	var services []string
	containers := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout()), "\n") {
		if rest, ok := strings.CutPrefix(l, "service "); ok {
			services = append(services, rest)
		} else {
			containers[l] = true
		}
	}
	assert.Check(t, is.DeepEqual(services, []string{"created user", "stopped user", "started user", "removed user"}), res.Stdout())
	assert.Check(t, containers["container started swarm on-node"], res.Stdout())
	assert.Check(t, containers["container stopped swarm on-node"], res.Stdout())
}

// Suspend and wake on Swarm: stopped (scaled to none) and woken by exec
// and cp, the files the same all along.
func TestSwarmSuspendAndWake(t *testing.T) {
	t.Parallel() // long: beside the other long ones, once the others are done
	s := newSwarmHarness(t)
	a := s.subdir("-sw")
	s.ws("ensure", a).Assert(t, icmd.Success)
	s.ws("exec", a, "sh", "-c", "for i in 1 2 3 4; do head -c 100000 /dev/urandom > f$i; done").Assert(t, icmd.Success)
	sums := func() string { return s.ws("exec", a, "sh", "-c", "sha256sum f*").Assert(t, icmd.Success).Stdout() }
	want := sums()
	for i := range envInt("E2E_SWARM_SUSPEND_CYCLES", 6) {
		s.ws("stop", a).Assert(t, icmd.Success)
		if i%2 == 1 {
			s.ws("cp", a+":f1", "-").Assert(t, icmd.Success) // wakes it
		}
		assert.Equal(t, sums(), want, "cycle %d: the files changed", i)
	}
}

// cp wakes a suspended workspace, unless workspaces are switched off
// (then it copies as docker cp does, from the stopped container), and a
// local source that is not there wakes nothing (new-user pass 6).
func TestCopyWakes(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	h.ws("exec", s, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)
	h.ws("stop", s).Assert(t, icmd.Success)
	state := func() string { return h.inspect("modern", containerName(s)).State.Status }

	h.ws("cp", "/nonexistent-"+h.id, s+":x").Assert(t, icmd.Expected{ExitCode: 1, Err: "no such file or directory"})
	assert.Check(t, is.Equal(state(), "exited"), "a copy that could not be woke the workspace")
	res := h.withEnv("GATEWAY_WORKSPACE_DOCKER_ENABLED=false").ws("cp", s+":f", "-")
	res.Assert(t, icmd.Expected{Err: "GATEWAY_WORKSPACE_DOCKER_ENABLED is false: not waking workspace"})
	assert.Check(t, is.Contains(res.Stdout(), "kept"))
	assert.Check(t, is.Equal(state(), "exited"), "woken although switched off")
	h.withEnv("GATEWAY_WORKSPACE_DOCKER_ENABLED=false").ws("exec", s, "true").Assert(t, icmd.Expected{ExitCode: 1, Err: "nothing wakes it while GATEWAY_WORKSPACE_DOCKER_ENABLED is false"})

	res = h.ws("cp", "-a", s+":f", "-")
	res.Assert(t, icmd.Expected{Err: "-a is ignored out of a workspace"})
	assert.Check(t, is.Equal(state(), "running"))
	h.docker("pause", containerName(s)).Assert(t, icmd.Success)
	h.ws("cp", s+":f", "-").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(state(), "running"))

	// A gws- container made by hand, mounting that workspace's directory:
	// no workspace of ours, and cp does not copy through it (new-user
	// pass 8).
	hand := containerName(h.subdir("-hand"))
	h.docker("create", "--name", hand, "-v", h.workspaceRoot()+"/"+s+":/home/agent/workspace", image, "sleep", "infinity").Assert(t, icmd.Success)
	h.ws("cp", hand+":/home/agent/workspace/f", "-").Assert(t, icmd.Expected{ExitCode: 1, Err: "records no workspace"})
}

// envInt is a number from the environment, or def.
func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// A reaper pass over many idle workspaces stops them all, in one pass, and
// goes on while tenants kill their own init under it (issue 19).
func TestReapPassOverMany(t *testing.T) {
	t.Parallel() // long: beside the other long ones, once the others are done
	requireEngine(t, "modern")
	h := newHarness(t)
	n := envInt("E2E_REAP_COUNT", 200)
	label := "e2e-reap=" + h.id
	names := make([]string, n)
	for i := range names {
		names[i] = h.subdir(fmt.Sprintf("-%d", i))
	}
	defer h.ws(append([]string{"rm", "-f"}, names...)...)
	h.ws(append([]string{"ensure", "--parallel", "16", "--label", label}, names...)...).Assert(t, icmd.Success)
	time.Sleep(1500 * time.Millisecond) // idle for more than --idle-for
	// Five tenants kill their init while the pass runs.
	for _, s := range names[:5] {
		h.ws("exec", "-d", s, "sh", "-c", "sleep 1; kill 1").Assert(t, icmd.Success)
	}
	res := h.ws("reap", "--once", "--idle-for", "1s", "--filter", "label="+label)
	res.Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		out := h.docker("ps", "-q", "--filter", "label="+label).Stdout()
		if left := len(strings.Fields(out)); left > 0 {
			return poll.Continue("%d workspaces still run", left)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))
	// Every other one was stopped by the reaper (the five, by their
	// tenants, unless the reaper came first).
	assert.Check(t, strings.Count(res.Stderr(), "): stopped") >= n-5, res.Stderr())
}
