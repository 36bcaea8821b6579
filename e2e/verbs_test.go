package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// The verbs users do their work with: exec, shell, cp, inspect, restart,
// prune, reap.

func TestExec(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	// The workspace is ensured first; the command runs in its directory, as
	// the container's user; the exit code is the command's.
	h.ws("exec", s, "sh", "-c", "pwd; id -u; echo to-stderr >&2; exit 7").Assert(t, icmd.Expected{
		ExitCode: 7, Out: "/home/agent/workspace\n1000", Err: "to-stderr",
	})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))
	// docker exec's own flags.
	h.ws("exec", "-u", "0", "-w", "/tmp", "-e", "GREETING=hi", s, "sh", "-c", "pwd; id -u; echo $GREETING").
		Assert(t, icmd.Expected{Out: "/tmp\n0\nhi"})
	// A relative -w is below the workspace, where commands start.
	h.ws("exec", s, "mkdir", "-p", "sub").Assert(t, icmd.Success)
	h.ws("exec", "-w", "sub", s, "pwd").Assert(t, icmd.Expected{Out: "/home/agent/workspace/sub"})
	// stdin with -i.
	res := icmd.RunCmd(icmd.Command("docker", "--config", env.configDir, "workspace", "exec", "-i", s, "sh", "-c", "tr a-z A-Z"),
		icmd.WithEnv(h.env...), icmd.WithStdin(strings.NewReader("shout\n")))
	res.Assert(t, icmd.Expected{Out: "SHOUT"})
	// A command the image lacks: the engine's words and 127, where docker
	// exec puts them (the runtime's message comes on the output stream).
	want := h.docker("exec", containerName(s), "no-such-command")
	assert.Check(t, is.Equal(want.ExitCode, 127))
	h.ws("exec", s, "no-such-command").Assert(t, icmd.Expected{ExitCode: 127, Out: "executable file not found", Err: want.Stderr()})
	// Detached: it runs on.
	h.ws("exec", "-d", s, "sh", "-c", "sleep 1; echo done > /tmp/detached").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if h.docker("exec", containerName(s), "cat", "/tmp/detached").ExitCode == 0 {
			return poll.Success()
		}
		return poll.Continue("not yet")
	}, poll.WithTimeout(20*time.Second))

	// --no-ensure: a stopped workspace is not started; a name or ID will do.
	h.ws("stop", "-t", "0", s).Assert(t, icmd.Success)
	h.ws("exec", "--no-ensure", s, "true").Assert(t, icmd.Expected{ExitCode: 1, Err: "is not running"})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "exited"))
	h.ws("exec", "--no-ensure", h.subdir("-none"), "true").Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace"})
	h.ws("exec", s, "true").Assert(t, icmd.Success) // ensured again
	h.ws("exec", "--no-ensure", containerName(s), "true").Assert(t, icmd.Success)
	// The hardened profile refuses --privileged.
	h.ws("exec", "--profile", "hardened", "--privileged", s, "true").Assert(t, icmd.Expected{ExitCode: 125, Err: "--privileged is refused with the hardened profile"})
}

// With a terminal: -t gives the command one, and input passes through it.
func TestExecWithATerminal(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--config", env.configDir, "workspace"}, args...)...)
		cmd.Env = h.env
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 132})
		assert.NilError(t, err)
		defer ptmx.Close()
		_, _ = ptmx.Write([]byte("echo typed-$((6*7))\nexit 5\n"))
		var out bytes.Buffer
		done := make(chan struct{})
		go func() { _, _ = io.Copy(&out, ptmx); close(done) }()
		err = cmd.Wait()
		<-done
		var ee *exec.ExitError
		if assert.Check(t, errors.As(err, &ee), "%v: %s", err, out.String()) {
			assert.Check(t, is.Equal(ee.ExitCode(), 5))
		}
		return out.String()
	}
	out := run("exec", "-it", s, "sh", "-c", "stty size; tty; sh")
	assert.Check(t, is.Contains(out, "40 132"), "the terminal's size did not reach the command")
	assert.Check(t, is.Contains(out, "/dev/pts/"))
	assert.Check(t, is.Contains(out, "typed-42"))
	// shell: a login shell of the container's user, in the workspace.
	out = run("shell", s)
	assert.Check(t, is.Contains(out, "typed-42"))
}

func TestShellWithoutATerminal(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	res := icmd.RunCmd(icmd.Command("docker", "--config", env.configDir, "workspace", "shell", s),
		icmd.WithEnv(h.env...), icmd.WithStdin(strings.NewReader("pwd; id -un\n")))
	res.Assert(t, icmd.Expected{Out: "/home/agent/workspace\nagent"})
	// -u and -e are the shell's, as exec's are its command's (issue 22, 5).
	res = icmd.RunCmd(icmd.Command("docker", "--config", env.configDir, "workspace", "shell", "-u", "root", "-e", "FOO=1", s),
		icmd.WithEnv(h.env...), icmd.WithStdin(strings.NewReader("id -un; echo foo=$FOO\n")))
	res.Assert(t, icmd.Expected{Out: "root\nfoo=1"})
}

func TestCopy(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	dir := fs.NewDir(t, "cp", fs.WithFile("hello.txt", "hello\n"), fs.WithDir("tree", fs.WithFile("a", "A")))
	// In, by a path relative to the workspace, and by an absolute one.
	h.ws("cp", dir.Join("hello.txt"), s+":hello.txt").Assert(t, icmd.Success)
	h.ws("cp", dir.Join("tree"), s+":/tmp/").Assert(t, icmd.Success)
	h.docker("exec", containerName(s), "cat", "/home/agent/workspace/hello.txt", "/tmp/tree/a").Assert(t, icmd.Expected{Out: "hello\nA"})
	// What is copied in is the container user's, which the agent can then
	// change (issue 22, 14); with -a, as the source has it.
	h.docker("exec", containerName(s), "stat", "-c", "%u:%g", "/home/agent/workspace/hello.txt", "/tmp/tree/a").Assert(t, icmd.Expected{Out: "1000:1000\n1000:1000"})
	h.ws("cp", dir.Join("hello.txt"), s+":mine.txt").Assert(t, icmd.Success)
	h.ws("exec", s, "sh", "-c", "echo more >> mine.txt").Assert(t, icmd.Success)
	h.ws("cp", "-a", dir.Join("hello.txt"), s+":as-root.txt").Assert(t, icmd.Success)
	h.docker("exec", containerName(s), "stat", "-c", "%u", "/home/agent/workspace/as-root.txt").Assert(t, icmd.Expected{Out: "0"})
	// -a keeps the owner the file has here, whoever that is (new-user
	// pass 5, High: the engine gave it to the container's user).
	assert.NilError(t, os.Chown(dir.Join("hello.txt"), 1234, 1235))
	h.ws("cp", "-a", dir.Join("hello.txt"), s+":kept.txt").Assert(t, icmd.Success)
	h.docker("exec", containerName(s), "stat", "-c", "%u:%g", "/home/agent/workspace/kept.txt").Assert(t, icmd.Expected{Out: "1234:1235"})
	// Out, to a file and as a tar stream.
	out := t.TempDir()
	h.ws("cp", s+":hello.txt", filepath.Join(out, "back.txt")).Assert(t, icmd.Success)
	b, err := os.ReadFile(filepath.Join(out, "back.txt"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "hello\n"))
	res := h.ws("cp", s+":hello.txt", "-").Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "hello.txt"))
	// A missing file is said of the workspace, not of a container ID
	// (issue 22, Low).
	h.ws("cp", s+":nothing.txt", "-").Assert(t, icmd.Expected{ExitCode: 1, Err: "no such file or directory in workspace " + s + ": /home/agent/workspace/nothing.txt"})
	// Into a directory that is not there: said of the workspace, with how
	// to make it, and nothing else (issue 22, new-user pass).
	res = h.ws("cp", dir.Join("hello.txt"), s+":data/")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "no such directory in workspace " + s + ": /home/agent/workspace/data (make it first"})
	assert.Check(t, !strings.Contains(res.Stderr(), "level=error"), res.Stderr())
	// Out, into a directory of this machine that is not there: said as
	// this machine's (second new-user pass).
	h.ws("cp", s+":hello.txt", filepath.Join(out, "nodir")+"/").Assert(t, icmd.Expected{ExitCode: 1, Err: "no such directory here: " + filepath.Join(out, "nodir")})
	// A symlink in the workspace is resolved in the container, never to the
	// host: /etc here is the container's.
	h.docker("exec", containerName(s), "ln", "-s", "/etc/passwd", "/home/agent/workspace/link").Assert(t, icmd.Success)
	h.ws("cp", "-L", s+":link", filepath.Join(out, "passwd")).Assert(t, icmd.Success)
	b, err = os.ReadFile(filepath.Join(out, "passwd"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(b), "agent:x:1000:1000"), "not the container's /etc/passwd")
	// Not a workspace's; between two; none.
	h.ws("cp", "nobody-"+h.id+":x", out).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace"})
	h.ws("cp", s+":a", s+":b").Assert(t, icmd.Expected{ExitCode: 125, Err: "copying between workspaces is not supported"})
}

func TestInspectAndRestart(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	h.ws("ensure", "--memory", "64m", a, b).Assert(t, icmd.Success)
	res := h.ws("inspect", a, containerName(b))
	res.Assert(t, icmd.Success)
	var got []struct {
		ID, Name, Subdir, Mode, Context string
		State                           struct{ Status string }
		Mounts                          []struct{ Destination, Source string }
		Config                          struct{ Memory int64 }
		Drift                           []string
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &got))
	assert.Assert(t, is.Len(got, 2))
	assert.Check(t, is.Equal(got[0].Subdir, a))
	assert.Check(t, is.Equal(got[1].Name, containerName(b)))
	assert.Check(t, is.Equal(got[0].Mode, "bind"))
	assert.Check(t, is.Equal(got[0].Context, "modern"))
	assert.Check(t, is.Equal(got[0].State.Status, "running"))
	assert.Check(t, is.Equal(got[0].Config.Memory, int64(64<<20)), "the recorded configuration")
	assert.Check(t, is.Len(got[0].Mounts, 2))
	assert.Check(t, is.DeepEqual(got[0].Drift, []string{}))
	h.ws("inspect", "--format", "{{.Subdir}} {{.State.Status}}", a).Assert(t, icmd.Expected{Out: a + " running"})
	h.ws("inspect", a, "gws-nobody-"+h.id).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: gws-nobody-" + h.id})
	// Issue 22: a misspelt field is bad input, refused before any output;
	// "json" is one compact line per workspace (as docker inspect); the
	// Compose project is there when empty; ls's CreatedAt is to the second.
	res = h.ws("inspect", "-f", "{{.Nmae}}", a)
	res.Assert(t, icmd.Expected{ExitCode: 125, Err: "can't evaluate field Nmae"})
	assert.Check(t, is.Equal(res.Stdout(), ""))
	res = h.ws("inspect", "-f", "json", a, b)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stdout()), "\n"), 0), res.Stdout())
	assert.Check(t, is.Contains(res.Stdout(), `"ComposeProject":""`))
	res = h.ws("ls", "--filter", "subdir="+a, "--format", "{{.ComposeProject}}|{{.Project}}|{{.Subdir}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "||"+a+"\n"))

	before := h.inspect("modern", containerName(a))
	h.ws("restart", "-t", "0", a).Assert(t, icmd.Expected{Out: a})
	after := h.inspect("modern", containerName(a))
	assert.Check(t, is.Equal(after.ID, before.ID))
	assert.Check(t, after.State.StartedAt != before.State.StartedAt, "not restarted")
	assert.Check(t, is.Equal(after.State.Status, "running"))
}

// prune removes the stopped workspace containers only: running ones, the
// data, and containers that are not a workspace's stay.
func TestPrune(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	stopped, running := h.subdir("-stopped"), h.subdir("-running")
	h.ws("ensure", stopped, running).Assert(t, icmd.Success)
	h.docker("exec", containerName(stopped), "sh", "-c", "echo kept > /home/agent/workspace/f").Assert(t, icmd.Success)
	h.ws("stop", "-t", "0", stopped).Assert(t, icmd.Success)
	other := "e2e-other-" + h.id
	h.docker("create", "--name", other, "--label", "docker-workspace.note=not-a-workspace", image, "true").Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rm", "-f", "-v", other) })
	// Refused without confirmation.
	res := icmd.RunCmd(icmd.Command("docker", "--config", env.configDir, "workspace", "prune"), icmd.WithEnv(h.env...), icmd.WithStdin(strings.NewReader("n\n")))
	assert.Check(t, is.Contains(res.Combined(), "Are you sure you want to continue?"))
	assert.Check(t, h.exists("modern", containerName(stopped)))
	// Only those of a project, or older than an hour: none.
	h.ws("prune", "-f", "--filter", "compose-project=nope-"+h.id).Assert(t, icmd.Expected{Out: "Total reclaimed space: 0B"})
	h.ws("prune", "-f", "--filter", "until=1h").Assert(t, icmd.Success)
	assert.Check(t, h.exists("modern", containerName(stopped)))
	id := h.inspect("modern", containerName(stopped)).ID
	res = h.ws("prune", "-f", "--filter", "until=0s")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Deleted Containers:\n"))
	assert.Check(t, is.Contains(res.Stdout(), id))
	assert.Check(t, is.Contains(res.Stdout(), "Total reclaimed space:"))
	assert.Check(t, !h.exists("modern", containerName(stopped)))
	assert.Check(t, is.Equal(h.inspect("modern", containerName(running)).State.Status, "running"))
	assert.Check(t, h.exists("modern", other))
	b, err := os.ReadFile(filepath.Join(h.workspaceRoot(), stopped, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "kept\n"))
	h.ws("prune", "--filter", "color=red").Assert(t, icmd.Expected{ExitCode: 125, Err: "invalid filter 'color'"})
}

// reap stops a workspace idle for the given time and spares a busy one
// (a process running in it, an exec session); it runs until stopped.
func TestReap(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	idle, busy, session := h.subdir("-idle"), h.subdir("-busy"), h.subdir("-exec")
	h.ws("ensure", idle, busy, session).Assert(t, icmd.Success)
	// busy: a process left running after its exec ended.
	h.docker("exec", containerName(busy), "sh", "-c", "sleep 3600 >/dev/null 2>&1 &").Assert(t, icmd.Success)
	// session: an exec session that waits for input.
	sess := icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "exec", "-i", containerName(session), "sh", "-c", "read x"},
		Env: h.env, Stdin: blockingReader{}})
	defer func() { _ = sess.Cmd.Process.Kill() }()
	// A workspace that is not in the filter is left alone, idle or not.
	h.docker("exec", containerName(busy), "true").Assert(t, icmd.Success)
	cmd := exec.Command("docker", "--config", env.configDir, "workspace", "reap", "--idle-for", "3s", "--interval", "1s",
		"--filter", "subdir="+idle, "--filter", "subdir="+busy, "--filter", "subdir="+session)
	cmd.Env = h.env
	var log bytes.Buffer
	cmd.Stderr = &log
	assert.NilError(t, cmd.Start())
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if h.inspect("modern", containerName(idle)).State.Status == "exited" {
			return poll.Success()
		}
		return poll.Continue("%s still runs", idle)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
	time.Sleep(4 * time.Second) // more than --idle-for: the busy ones stay
	assert.NilError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NilError(t, cmd.Wait(), "reap does not end cleanly on SIGTERM: %s", log.String())
	assert.Check(t, is.Equal(h.inspect("modern", containerName(busy)).State.Status, "running"))
	assert.Check(t, is.Equal(h.inspect("modern", containerName(session)).State.Status, "running"))
	assert.Check(t, is.Contains(log.String(), idle+" ("+containerName(idle)+"): stopped"))
	assert.Check(t, is.Contains(log.String(), `process "sleep 3600" runs`))
	assert.Check(t, is.Contains(log.String(), "an exec session runs"))
	// Changes only: the busy workspace, busy on every pass, is logged once
	// (issue 22, Low).
	assert.Check(t, is.Equal(strings.Count(log.String(), busy+" ("+containerName(busy)+"): busy"), 1), log.String())

	// --once: one pass; the workspaces started less than --idle-for ago stay.
	h.ws("reap", "--once", "--idle-for", "1h", "--filter", "subdir="+busy).Assert(t, icmd.Success)
	res := h.ws("reap", "--once", "--idle-for", "1h", "--filter", "subdir="+busy)
	res.Assert(t, icmd.Success)
	assert.Check(t, res.Stderr() != "", "--once logs its decision")
	res = h.ws("reap", "--once", "--quiet", "--idle-for", "1h", "--filter", "subdir="+busy)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stderr(), ""))

	// --action pause: frozen, not stopped; exec wakes it, the same
	// container with its data (issue 19).
	p := h.subdir("-pause")
	h.ws("ensure", p).Assert(t, icmd.Success)
	h.ws("exec", p, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)
	started := h.inspect("modern", containerName(p)).State.StartedAt
	time.Sleep(1500 * time.Millisecond)
	h.ws("reap", "--once", "--action", "pause", "--idle-for", "1s", "--filter", "subdir="+p).Assert(t, icmd.Expected{Err: containerName(p) + "): paused"})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(p)).State.Status, "paused"))
	h.ws("exec", p, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})
	woke := h.inspect("modern", containerName(p)).State
	assert.Check(t, is.Equal(woke.Status, "running"))
	assert.Check(t, is.Equal(woke.StartedAt, started), "restarted, not woken")
	h.ws("reap", "--once", "--action", "hibernate", "--idle-for", "1s").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid --action "hibernate"`})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(busy)).State.Status, "running"))
	h.ws("reap").Assert(t, icmd.Expected{ExitCode: 125, Err: "--idle-for is required"})
}

// blockingReader never ends: an exec session that waits for input.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

// A tenant (root in its workspace) leaves a setuid-root program, a device
// node and a fifo for cp to bring out: none of them lands on the host as
// such, and cp says what it changed (issue 17: cp out).
func TestCopyOutBringsNoPrivilegeToTheHost(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	h.ws("exec", "-u", "0", s, "sh", "-c",
		"mkdir -p out && cp /bin/busybox out/tool && chmod 4755 out/tool && mknod out/disk b 254 0 && mkfifo out/pipe && echo ok > out/plain").
		Assert(t, icmd.Success)
	dest := t.TempDir()
	res := h.ws("cp", s+":out", dest)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "out/tool: its setuid and setgid bits dropped"))
	assert.Check(t, is.Contains(res.Stderr(), "out/disk: a device node: left out"))
	assert.Check(t, is.Contains(res.Stderr(), "out/pipe: a fifo: left out"))
	fi, err := os.Stat(filepath.Join(dest, "out", "tool"))
	assert.NilError(t, err)
	assert.Check(t, fi.Mode()&(os.ModeSetuid|os.ModeSetgid) == 0, "setuid on the host: %v", fi.Mode())
	for _, name := range []string{"disk", "pipe"} {
		_, err := os.Lstat(filepath.Join(dest, "out", name))
		assert.Check(t, os.IsNotExist(err), "%s landed on the host", name)
	}
	b, err := os.ReadFile(filepath.Join(dest, "out", "plain"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "ok\n"))
}

// An interrupted exec (SIGINT, SIGTERM) ends its command in the workspace,
// and what it started (issue 17, Low): else the reaper sees the workspace
// busy for ever. With and without -u.
func TestInterruptedExecEndsItsCommand(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", s).Assert(t, icmd.Success)
	for i, tc := range []struct {
		sig  syscall.Signal
		args []string
		trap string
	}{
		{syscall.SIGTERM, nil, ""},
		{syscall.SIGINT, []string{"-u", "0"}, ""},
		{syscall.SIGTERM, nil, `trap "" TERM INT; `}, // what ignores the signal is killed
	} {
		marker := fmt.Sprintf("42%d%d", i, time.Now().UnixNano()%1000)
		args := append(append([]string{"--config", env.configDir, "workspace", "exec"}, tc.args...), s, "sh", "-c", tc.trap+"sleep "+marker+" & sleep "+marker+"1")
		cmd := exec.Command("docker", args...)
		cmd.Env = h.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		assert.NilError(t, cmd.Start())
		running := func(want bool) func(poll.LogT) poll.Result {
			return func(poll.LogT) poll.Result {
				out := h.docker("exec", containerName(s), "ps", "-o", "args").Stdout()
				if strings.Contains(out, "sleep "+marker+"1") != want {
					return poll.Continue("%s: running %v: %s", tc.sig, !want, out)
				}
				return poll.Success()
			}
		}
		poll.WaitOn(t, running(true), poll.WithTimeout(20*time.Second))
		assert.NilError(t, syscall.Kill(-cmd.Process.Pid, tc.sig))
		_ = cmd.Wait()
		poll.WaitOn(t, running(false), poll.WithTimeout(10*time.Second))
		out := h.docker("exec", containerName(s), "ps", "-o", "args").Stdout()
		assert.Check(t, !strings.Contains(out, "sleep "+marker), "%s: what the command started still runs: %s", tc.sig, out)
	}
}

// A removed workspace is still recorded, and refuses one above it; the
// refusal says how to forget it, and rm --forget does, keeping its data
// (issue 22, 10). On this host and in a volume.
func TestRemoveForget(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	for _, mode := range []string{"bind", "volume_subpath"} {
		flags := modeArgs(h, mode)
		parent := h.short("-" + mode[:4])
		child := h.track(parent + "/child")
		h.ws(append(append([]string{"ensure"}, flags...), child)...).Assert(t, icmd.Success)
		h.docker("exec", containerName(child), "sh", "-c", "echo kept > /home/agent/workspace/data").Assert(t, icmd.Success)
		h.ws("rm", "-f", child).Assert(t, icmd.Success)
		h.ws(append(append([]string{"ensure"}, flags...), parent)...).
			Assert(t, icmd.Expected{ExitCode: 1, Err: "`docker workspace rm --forget " + child + "` with this command's root or volume flags forgets it (its data stays)"})
		// The records are all it touches: no shared volume needed.
		forget := flags
		if mode != "bind" {
			forget = flags[:len(flags)-2]
			assert.Assert(t, is.Equal(flags[len(flags)-2], "--shared-volume"))
		}
		h.ws(append(append([]string{"rm", "--forget"}, forget...), child)...).Assert(t, icmd.Expected{Err: "forgotten; its data stays"})
		// What is no longer recorded is nothing to forget: said, rc 1,
		// never "forgotten" (issue 22, new-user pass).
		h.ws(append(append([]string{"rm", "--forget"}, flags...), child)...).Assert(t, icmd.Expected{ExitCode: 1, Err: "nothing to forget"})
		// -f is about the container: a record not found is an error with it
		// too (a root or volume named wrong would pass unnoticed).
		h.ws(append(append([]string{"rm", "-f", "--forget"}, flags...), child)...).Assert(t, icmd.Expected{ExitCode: 1, Err: "nothing to forget"})
		h.ws(append(append([]string{"ensure"}, flags...), parent)...).Assert(t, icmd.Success)
		h.docker("exec", containerName(parent), "cat", "/home/agent/workspace/child/data").Assert(t, icmd.Expected{Out: "kept"})
	}
}

// update changes a running workspace's limits live (issue 18): same
// container, same start, new limits as docker inspect tells them; drift
// then compares with them. Bad input changes nothing (125); a name of
// nothing is an error (1).
func TestUpdate(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	h.ws("ensure", "--memory", "64m", s).Assert(t, icmd.Success)
	before := h.inspect("modern", containerName(s))
	h.ws("update", "--memory", "128m", "--pids-limit", "200", "--cpus", "1.5", s).Assert(t, icmd.Expected{Out: s})
	after := h.inspect("modern", containerName(s))
	assert.Check(t, is.Equal(after.ID, before.ID))
	assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt), "restarted")
	assert.Check(t, is.Equal(after.HostConfig.Memory, int64(128<<20)))
	assert.Check(t, is.Equal(after.HostConfig.NanoCPUs, int64(1.5e9)))
	assert.Assert(t, after.HostConfig.PidsLimit != nil)
	assert.Check(t, is.Equal(*after.HostConfig.PidsLimit, int64(200)))
	// The new limits hold inside: a cgroup says them.
	// (cgroup v1 here; v2 elsewhere.)
	h.ws("exec", s, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || "+
		"cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max").Assert(t, icmd.Expected{Out: "134217728\n200"})

	// stats says the new limit, as docker stats does (issue 18).
	res := h.ws("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", s)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), containerName(s)+" "))
	assert.Check(t, is.Contains(res.Stdout(), " / 128MiB\n"))

	h.ws("ensure", "--memory", "128m", "--pids-limit", "200", "--cpus", "1.5", "--format", "{{.Action}} {{.Drift}}", s).Assert(t, icmd.Expected{Out: "running []"})
	h.ws("ensure", "--memory", "64m", "--format", "{{.Drift}}", s).Assert(t, icmd.Expected{Out: "[limits]"})
	// exec ensures, and says drift as ensure does (issue 22, new-user pass).
	h.ws("exec", s, "true").Assert(t, icmd.Expected{Err: "container " + containerName(s) + " differs from the configuration (limits)"})
	h.ws("ls", "--check-config", "--memory", "128m", "--pids-limit", "200", "--cpus", "1.5", "--filter", "subdir="+s, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[]"})

	for _, bad := range [][]string{{"--memory", "lots"}, {"--memory", "0"}, {"--cpus", "0"}, {"--cpus", "1e300"}, {"--pids-limit", "-2"}, {}} {
		h.ws(append(append([]string{"update"}, bad...), s)...).Assert(t, icmd.Expected{ExitCode: 125})
	}
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).HostConfig.Memory, int64(128<<20)), "bad input changed it")
	h.ws("update", "--memory", "1g", "nobody-"+h.id).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: nobody-" + h.id})
}

// A fork bomb in one workspace stops at its process limit, there by
// default (issue 18): a neighbour still runs commands.
func TestForkBombStaysInItsWorkspace(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-bomb"), h.subdir("-neighbour")
	h.ws("ensure", a, b).Assert(t, icmd.Success)
	pids := h.inspect("modern", containerName(a)).HostConfig.PidsLimit
	// Never a bomb without a limit: this machine would go down with it.
	assert.Assert(t, pids != nil && *pids == 4096, "no default process limit: %v", pids)
	h.ws("exec", "-d", a, "sh", "-c", "f(){ f | f & }; f").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := h.docker("exec", containerName(b), "true") // the host still forks
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("the neighbour cannot run a command: %s", res.Combined()))
		}
		n, _ := strconv.Atoi(strings.TrimSpace(h.ws("stats", "--no-stream", "--format", "{{.PIDs}}", a).Stdout()))
		if n < 4000 {
			return poll.Continue("%d processes in the bomb's workspace", n)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(200*time.Millisecond))
	h.ws("exec", b, "sh", "-c", "echo still here").Assert(t, icmd.Expected{Out: "still here"})
	h.ws("rm", "-f", a).Assert(t, icmd.Success)
}
