package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// Faults: interrupted and killed runs, races with removal, failures of the
// engine. None may leave garbage, lose data, or leave a workspace without
// its container.

// leftovers are the temporary containers of ours on the modern engine.
func (h *harness) leftovers() []string {
	h.t.Helper()
	return strings.Fields(h.docker("ps", "-a", "--filter", "name=^/gws_", "--format", "{{.Names}}").Assert(h.t, icmd.Success).Stdout())
}

// danglingVolumes are the volumes no container uses.
func (h *harness) danglingVolumes() map[string]bool {
	h.t.Helper()
	out := map[string]bool{}
	for _, v := range strings.Fields(h.docker("volume", "ls", "-q", "--filter", "dangling=true").Assert(h.t, icmd.Success).Stdout()) {
		out[v] = true
	}
	return out
}

// interrupted is how an interrupted command ended.
type interrupted struct {
	ExitCode int
	Stderr   string
}

// interrupt starts `docker workspace ARGS` in a process group of its own,
// sends sig to the group after a random moment of up to maxDelay (as a
// terminal's Ctrl-C, a service manager's SIGTERM or kill -9 of a session do:
// the docker CLI and the plugin get it together), and waits.
func (h *harness) interrupt(sig syscall.Signal, maxDelay time.Duration, args ...string) interrupted {
	h.t.Helper()
	cmd := exec.Command("docker", append([]string{"--config", env.configDir, "workspace"}, args...)...)
	cmd.Env = h.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	assert.NilError(h.t, cmd.Start())
	time.Sleep(time.Duration(rand.Int64N(int64(maxDelay))))
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	_ = cmd.Wait()
	// The docker CLI may end before the plugin it ran has undone what it
	// began: the command is over when its whole process group is.
	poll.WaitOn(h.t, func(poll.LogT) poll.Result {
		if err := syscall.Kill(-cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
			return poll.Success()
		}
		return poll.Continue("the plugin of the interrupted command still runs")
	}, poll.WithTimeout(time.Minute), poll.WithDelay(20*time.Millisecond))
	return interrupted{ExitCode: cmd.ProcessState.ExitCode(), Stderr: stderr.String()}
}

// SIGINT and SIGTERM during a cold ensure: the plugin undoes what it began
// before it exits — no temporary container, no helper, no anonymous volume.
// kill -9: what it left is removed by the next ensure. With an image that
// declares a VOLUME, in both modes.
func TestInterruptedEnsureLeavesNothing(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	img := "e2e/volumes:" + h.id
	dir := fs.NewDir(t, "img", fs.WithFile("Dockerfile", "FROM "+image+"\nVOLUME /data\n"))
	h.withEnv("DOCKER_BUILDKIT=0").docker("build", "-q", "-t", img, dir.Path()).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rmi", "-f", img) })
	before := h.danglingVolumes()
	var made []string
	t.Cleanup(func() { // the workspace containers' own anonymous volumes too
		if len(made) > 0 {
			h.docker(append([]string{"rm", "-f", "-v"}, made...)...)
		}
	})
	n := 0
	for _, mode := range []string{"bind", "volume_subpath"} {
		flags := append([]string{"--image", img}, modeArgs(h, mode)...)
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
			codes := map[int]int{}
			for range 6 {
				n++
				s := h.short(fmt.Sprintf("-i%d", n))
				made = append(made, containerName(s))
				res := h.interrupt(sig, 400*time.Millisecond, ensureArgs(flags, s)...)
				codes[res.ExitCode]++
				if sig != syscall.SIGKILL {
					assert.Check(t, is.Len(h.leftovers(), 0), "%s %s: left behind after %s (exit %d: %s)", mode, s, sig, res.ExitCode, res.Stderr)
				}
			}
			t.Logf("%s, %s: exit codes %v", mode, sig, codes)
		}
		killed := h.leftovers()
		s := h.short(fmt.Sprintf("-next-%s", mode))
		made = append(made, containerName(s))
		h.ws(ensureArgs(flags, s)...).Assert(t, icmd.Success)
		t.Logf("%s: left by kill -9: %v; after the next ensure: %v", mode, killed, h.leftovers())
		assert.Check(t, is.Len(h.leftovers(), 0), "the next ensure did not collect what kill -9 left")
	}
	for v := range h.danglingVolumes() {
		assert.Check(t, before[v], "anonymous volume %s left behind", v)
	}
}

// ensure and `rm -f` of the same workspace at once: both succeed, every
// time; the loser of two `rm -f` too.
func TestEnsureRacesWithRemoval(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	failed := 0
	for i := range 15 {
		if i%3 == 0 {
			h.ws("ensure", s).Assert(t, icmd.Success) // a warm ensure now and then
		}
		ens := icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "workspace", "ensure", s}, Env: h.env})
		rm := icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "workspace", "rm", "-f", s}, Env: h.env})
		for _, r := range []*icmd.Result{icmd.WaitOnCmd(time.Minute, ens), icmd.WaitOnCmd(time.Minute, rm)} {
			if r.ExitCode != 0 {
				failed++
				t.Errorf("%v failed: %s", r.Cmd.Args[3:], r.Combined())
			}
		}
	}
	t.Logf("15 ensure/rm -f races: %d failed", failed)
	h.ws("ensure", s).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))

	rms := []*icmd.Result{
		icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "workspace", "rm", "-f", s}, Env: h.env}),
		icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "workspace", "rm", "-f", s}, Env: h.env}),
	}
	for _, r := range rms {
		icmd.WaitOnCmd(time.Minute, r).Assert(t, icmd.Success)
	}
	assert.Check(t, !h.exists("modern", containerName(s)))
}

// A replacement killed at any moment: the next plain ensure ends with one
// running container that sees the data.
func TestKilledReplacementRecovers(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	h.docker("exec", containerName(s), "sh", "-c", "echo kept > /home/agent/workspace/f").Assert(t, icmd.Success)
	for range 5 {
		h.interrupt(syscall.SIGKILL, 500*time.Millisecond, "ensure", "--recreate", "always", s)
		h.ws("ensure", s).Assert(t, icmd.Success)
		assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))
		h.docker("exec", containerName(s), "cat", "/home/agent/workspace/f").Assert(t, icmd.Expected{Out: "kept"})
		out := h.docker("ps", "-a", "--filter", "name=^/"+containerName(s)+"$", "--format", "{{.Names}}").Stdout()
		assert.Check(t, is.Equal(strings.TrimSpace(out), containerName(s)))
	}
	// The replacement a killed run was making is removed by the next ensure
	// that lists the containers; a replaced container it had set aside is
	// stopped, and left to prune.
	left := h.leftovers()
	t.Logf("left by 5 killed replacements: %v", left)
	h.ws("ensure", h.subdir("-next")).Assert(t, icmd.Success)
	for _, name := range h.leftovers() {
		assert.Check(t, strings.HasPrefix(name, "gws_old_"), "%s was not collected", name)
		assert.Check(t, is.Equal(h.inspect("modern", name).State.Status, "exited"))
		h.docker("rm", "-f", "-v", name)
	}
}

// A missing network is the engine's words, at once, and nothing is made.
func TestMissingNetworkFailsAtOnce(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	nope := "e2e-nope-" + h.id
	h.ws("ensure", "--network", nope, s).Assert(t, icmd.Expected{ExitCode: 1, Err: "network " + nope + " not found"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	_, err := os.Stat(filepath.Join(h.workspaceRoot(), s))
	assert.Check(t, os.IsNotExist(err), "its directory was made")
	res := h.ws("doctor", "--network", nope)
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Stdout(), "network "+nope+" does not exist on the engine"))
	// Issue 22, Low: the network has a line of its own; a missing image
	// that ensure would pull says so beside "Result: ok".
	assert.Check(t, is.Regexp(`(?m)^Network:\s+`+nope+`: does not exist$`, res.Stdout()))
	res = h.ws("doctor", "--image", "e2e/missing:"+h.id, "--format", "{{.Image.Ref}} {{.Image.Present}} {{.OK}}")
	res.Assert(t, icmd.Expected{Out: "e2e/missing:" + h.id + " false true"})
	h.ws("doctor", "--image", "e2e/missing:"+h.id).Assert(t, icmd.Expected{Out: "not on the engine: ensure pulls it"})
	h.ws("doctor", "--format", "{{.Nmae}}").Assert(t, icmd.Expected{ExitCode: 125, Err: "can't evaluate field Nmae"})
}

// A replacement that cannot be made (a typo in --user) leaves the old
// container running, untouched.
func TestFailedReplacementKeepsTheOldContainer(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	before := h.inspect("modern", containerName(s))
	h.ws("ensure", "--recreate", "if-changed", "--user", "agnet", s).Assert(t, icmd.Expected{ExitCode: 1, Err: `user "agnet": not found in the image's /etc/passwd`})
	after := h.inspect("modern", containerName(s))
	assert.Check(t, is.Equal(after.ID, before.ID))
	assert.Check(t, is.Equal(after.State.Status, "running"))
	assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt))
	assert.Check(t, is.Len(h.leftovers(), 0))
}

// hungSocket is a unix socket that accepts and never answers, as a hung
// engine: its path.
func hungSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	assert.NilError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return sock
}

// An engine that accepts and never answers: every command gives up in time,
// with one line naming the context and the endpoint.
func TestHungEngine(t *testing.T) {
	h := newHarness(t)
	sock := hungSocket(t)
	name := "e2e-hung-" + h.id
	h.docker("context", "create", name, "--docker", "host=unix://"+sock).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("context", "rm", "-f", name) })
	for _, tc := range []struct {
		args []string
		op   string
	}{
		{[]string{"ls"}, "list containers"},
		{[]string{"ensure", "a"}, "inspect container gws-a"},
		{[]string{"stop", "a"}, "list containers"},
	} {
		cmd := icmd.Command("docker", append([]string{"--config", env.configDir, "--context", name, "workspace", "--api-timeout", "3s"}, tc.args...)...)
		res := icmd.RunCmd(cmd, icmd.WithEnv(h.env...), icmd.WithTimeout(2*time.Minute))
		res.Assert(t, icmd.Expected{ExitCode: 1})
		// The limit is the call's, reads included; the docker CLI's own
		// first ping waited too (2 s): the total is said.
		want := regexp.MustCompile(fmt.Sprintf(`^the Docker engine of context %q at unix://%s did not answer within 3s \(%s; [0-9.]+s in all\): is it hung\? --api-timeout sets the limit$`,
			name, regexp.QuoteMeta(sock), tc.op))
		assert.Check(t, want.MatchString(strings.TrimSpace(res.Stderr())), res.Stderr())
	}
}

// A Swarm manager, or a node's engine, that accepts and never answers:
// every Swarm-mode command ends within --api-timeout and 3 s (the docker
// CLI's own first ping waits 2 s), with one line.
func TestHungSwarm(t *testing.T) {
	s := newSwarmHarness(t)
	const limit = 3 * time.Second
	timed := func(h *harness, args ...string) (*icmd.Result, time.Duration) {
		t.Helper()
		start := time.Now()
		cmd := icmd.Command("docker", append([]string{"--config", env.configDir}, args...)...)
		res := icmd.RunCmd(cmd, icmd.WithEnv(h.env...), icmd.WithTimeout(2*time.Minute))
		return res, time.Since(start)
	}

	// The manager.
	sock := hungSocket(t)
	mgr := "e2e-hung-mgr-" + s.id
	s.docker("context", "create", mgr, "--docker", "host=unix://"+sock).Assert(t, icmd.Success)
	t.Cleanup(func() { s.docker("context", "rm", "-f", mgr) })
	for _, args := range [][]string{
		{"ls"}, {"ensure", "a"}, {"stop", "a"}, {"rm", "-f", "a"}, {"exec", "a", "true"}, {"cp", "a:x", "-"}, {"doctor"},
	} {
		res, took := timed(s.harness, append([]string{"--context", mgr, "workspace", "--api-timeout", limit.String()}, args...)...)
		assert.Check(t, is.Equal(res.ExitCode, 1), "%v: %s", args, res.Combined())
		assert.Check(t, took < limit+3*time.Second, "%v took %s", args, took)
		assert.Check(t, is.Contains(res.Stderr(), "did not answer within"), "%v", args)
		assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "%v: more than one line: %s", args, res.Stderr())
	}

	// A node's engine: a workspace that runs on sw2, whose label then names
	// the hung socket.
	var a string
	for i := range 6 {
		w := s.subdir(fmt.Sprintf("-n%d", i))
		node := strings.TrimSpace(s.ws("ensure", "--format", "{{.Node}}", w).Assert(t, icmd.Success).Stdout())
		if node == "sw2" {
			a = w
			break
		}
	}
	assert.Assert(t, a != "", "no workspace landed on sw2")
	id := strings.TrimSpace(s.docker("--context", "swarm", "node", "inspect", "--format", "{{.ID}}", "sw2").Assert(t, icmd.Success).Stdout())
	s.docker("--context", "swarm", "node", "update", "--label-add", "docker-workspace.engine=unix://"+sock, id).Assert(t, icmd.Success)
	t.Cleanup(func() {
		s.docker("--context", "swarm", "node", "update", "--label-add", "docker-workspace.engine=sw2", id)
	})
	for _, args := range [][]string{{"exec", a, "true"}, {"cp", a + ":x", "-"}, {"shell", a}} {
		res, took := timed(s.harness, append([]string{"--context", "swarm", "workspace", "--api-timeout", limit.String()}, args...)...)
		assert.Check(t, is.Equal(res.ExitCode, 1), "%v: %s", args, res.Combined())
		assert.Check(t, took < limit+3*time.Second, "%v took %s", args, took)
		assert.Check(t, is.Contains(res.Stderr(), "unix://"+sock), "%v", args)
		assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "%v: more than one line: %s", args, res.Stderr())
	}
	res, took := timed(s.harness, "--context", "swarm", "workspace", "--api-timeout", limit.String(), "doctor")
	assert.Check(t, took < limit+3*time.Second, "doctor took %s", took)
	assert.Check(t, is.Contains(res.Stdout(), "Node sw2"), res.Combined())
	assert.Check(t, is.Contains(res.Stdout(), "did not answer within"), res.Combined())
}

// Ctrl-C while a replacement is under way: the old container is back,
// under its name, with its data; kill -9: the next ensure takes it back.
func TestInterruptedReplacementKeepsTheOldContainer(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	img := "e2e/volumes:" + h.id
	dir := fs.NewDir(t, "img", fs.WithFile("Dockerfile", "FROM "+image+"\nVOLUME /home/agent/data\n"))
	h.withEnv("DOCKER_BUILDKIT=0").docker("build", "-q", "-t", img, dir.Path()).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rmi", "-f", img) })
	s := h.subdir("")
	t.Cleanup(func() { h.docker("rm", "-f", "-v", containerName(s)) })
	h.ws("ensure", "--image", img, s).Assert(t, icmd.Success)
	h.docker("exec", "-u", "0", containerName(s), "sh", "-c", "echo precious > /home/agent/data/f").Assert(t, icmd.Success)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL, syscall.SIGKILL} {
		for range 3 {
			h.interrupt(sig, 700*time.Millisecond, "ensure", "--image", img, "--recreate", "always", s)
			if sig != syscall.SIGKILL {
				out := h.docker("ps", "-a", "--filter", "name=^/"+containerName(s)+"$", "--format", "{{.Names}}").Stdout()
				assert.Check(t, is.Equal(strings.TrimSpace(out), containerName(s)), "after %s the workspace has no container", sig)
			}
			if sig != syscall.SIGKILL {
				h.ws("ensure", "--image", img, s).Assert(t, icmd.Success)
				h.docker("exec", containerName(s), "cat", "/home/agent/data/f").Assert(t, icmd.Expected{Out: "precious"})
				continue
			}
			// A killed process's last request may still be under way in the
			// engine (a rename of the replaced container aside): the next
			// ensures take the workspace back once it has landed.
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if res := h.ws("ensure", "--image", img, s); res.ExitCode != 0 {
					return poll.Continue("ensure: %s", res.Stderr())
				}
				if res := h.docker("exec", containerName(s), "cat", "/home/agent/data/f"); strings.TrimSpace(res.Stdout()) != "precious" {
					return poll.Continue("exec: %s", res.Combined())
				}
				return poll.Success()
			}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
		}
	}
	// kill -9 just after the replacement took the name leaves the replaced
	// container set aside, stopped: for prune. A new container that a kill
	// -9 left is collected by the next ensure that makes one.
	h.ws("ensure", h.subdir("-collector")).Assert(t, icmd.Success)
	for _, name := range h.leftovers() {
		assert.Check(t, strings.HasPrefix(name, "gws_old_"), "%s left", name)
		h.docker("rm", "-f", "-v", name)
	}
}

// Two ensures of one new workspace at once, one of them interrupted: the
// other succeeds (the interrupted one keeps what the other uses).
func TestInterruptingOneOfTwoEnsures(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	failed := 0
	for i := range 8 {
		s := h.short(fmt.Sprintf("-two%d", i))
		other := icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "workspace", "ensure", s}, Env: h.env})
		h.interrupt(syscall.SIGINT, 300*time.Millisecond, "ensure", s)
		if res := icmd.WaitOnCmd(time.Minute, other); res.ExitCode != 0 {
			failed++
			t.Errorf("the other ensure failed: %s", res.Combined())
		}
	}
	t.Logf("8 rounds: %d failed", failed)
}
