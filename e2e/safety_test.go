package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
)

// concurrentEnsures is how many processes (and goroutines) race to ensure
// one new workspace.
const concurrentEnsures = 20

// N processes ensure one new workspace at once: all succeed with the same
// ID, and one container exists.
func TestConcurrentProcesses(t *testing.T) {
	requireEngine(t, "modern")
	for _, mode := range []string{"bind", "volume_subpath"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			s := h.subdir("")
			args := []string{"--config", env.configDir, "workspace", "ensure", "--format", "{{.ID}} {{.Action}}", s}
			if mode == "volume_subpath" {
				args = append(args, "--mount-mode", mode, "--workspace-volume", h.volume("modern", "ws"), "--shared-volume", h.volume("modern", "sh"))
			}
			cmds := make([]*icmd.Result, concurrentEnsures)
			for i := range cmds {
				cmds[i] = icmd.StartCmd(icmd.Cmd{Command: append([]string{"docker"}, args...), Env: h.env})
			}
			ids := map[string]int{}
			actions := map[string]int{}
			failed := 0
			for _, c := range cmds {
				res := icmd.WaitOnCmd(0, c)
				if res.ExitCode != 0 {
					failed++
					t.Errorf("an ensure failed: %s", res.Combined())
					continue
				}
				id, action, _ := strings.Cut(strings.TrimSpace(res.Stdout()), " ")
				ids[id]++
				actions[action]++
			}
			t.Logf("%s: %d concurrent ensure processes, %d failed, IDs %v, actions %v", mode, concurrentEnsures, failed, ids, actions)
			assert.Check(t, is.Len(ids, 1), "more than one container ID")
			assert.Check(t, is.Equal(actions["created"], 1))
			out := h.docker("ps", "-a", "-q", "--filter", "name=^/"+containerName(s)+"$").Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Equal(len(strings.Fields(out)), 1))
			assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))
			leftover := h.docker("ps", "-a", "-q", "--filter", "label="+sandbox.LabelHelper).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Equal(leftover, ""), "helper containers left behind")
		})
	}
}

// N goroutines of one process (the Go library) ensure one new workspace.
func TestConcurrentGoroutines(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	c, err := client.NewClientWithOpts(client.WithHost(env.hostByCtx["modern"]), client.WithAPIVersionNegotiation())
	assert.NilError(t, err)
	defer c.Close()
	m := engine.New(c, engine.Options{})
	cfg := sandbox.Config{
		Image: image, Mode: sandbox.ModeBind, Init: true, CreateHostDirs: true,
		WorkspaceRoot: h.workspaceRoot(), SharedDir: h.sharedDir(),
	}
	var wg sync.WaitGroup
	results := make([]sandbox.Result, concurrentEnsures)
	errs := make([]error, concurrentEnsures)
	for i := range concurrentEnsures {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = m.Ensure(context.Background(), s, cfg)
		}()
	}
	wg.Wait()
	created := 0
	for i := range concurrentEnsures {
		assert.Check(t, errs[i])
		assert.Check(t, is.Equal(results[i].ID, results[0].ID))
		if results[i].Action == sandbox.ActionCreated {
			created++
		}
	}
	t.Logf("%d concurrent ensure goroutines, 1 container %s, %d created it", concurrentEnsures, results[0].ID[:12], created)
	assert.Check(t, is.Equal(created, 1))
}

// One call with 50 subdirs creates 50 containers; one failure among them
// is reported without stopping the rest.
func TestManySubdirsInOneCall(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	prefix := h.subdir("")
	var subdirs []string
	for i := range 50 {
		subdirs = append(subdirs, fmt.Sprintf("%s-%02d", prefix, i))
	}
	t.Cleanup(func() {
		ids := h.docker("ps", "-aq", "--filter", "name=^/"+containerName(prefix)).Stdout()
		if f := strings.Fields(ids); len(f) > 0 {
			h.docker(append([]string{"rm", "-f"}, f...)...)
		}
	})
	// A collision: "<prefix> 07" holds the name that "<prefix>-07" needs.
	collider := prefix + " 07"
	h.ws("ensure", collider).Assert(t, icmd.Success)
	res := h.ws(append([]string{"ensure", "--format", "{{.Subdir}} {{.Action}}"}, subdirs...)...)
	assert.Check(t, is.Equal(res.ExitCode, 1))
	assert.Check(t, is.Contains(res.Stderr(), fmt.Sprintf("belongs to workspace %q, not %q", collider, subdirs[7])))
	var want []string
	for i, s := range subdirs {
		if i != 7 {
			want = append(want, s+" created")
		}
	}
	assert.Check(t, is.Equal(res.Stdout(), strings.Join(want, "\n")+"\n"))
	ls := h.ws("ls", "--format", "{{.Subdir}}").Assert(t, icmd.Success).Stdout()
	for i, s := range subdirs {
		if i != 7 {
			assert.Check(t, is.Contains(ls, s+"\n"))
		}
	}
	// Again: the 49 run, nothing is created, the collision is still refused.
	res = h.ws(append([]string{"ensure", "--format", "{{.Action}}"}, subdirs...)...)
	assert.Check(t, is.Equal(res.ExitCode, 1))
	assert.Check(t, is.Equal(strings.Count(res.Stdout(), "running\n"), 49))
}

// Subdirs whose names sanitise alike never share a container.
func TestNameCollisions(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base := h.subdir("")
	long := base + "-" + strings.Repeat("x", 50-len("-")-len(base))
	for _, tc := range []struct{ first, second string }{
		{first: base + "-a-b", second: base + "-a b"},
		{first: base + "-ab", second: base + "-Ab"},
		{first: long + "-one", second: long + "-two"},
	} {
		t.Run(tc.second, func(t *testing.T) {
			name := containerName(strings.ToLower(tc.first))
			t.Cleanup(func() { h.docker("rm", "-f", "-v", name) })
			h.ws("ensure", tc.first).Assert(t, icmd.Success)
			before := h.inspect("modern", name)
			assert.Check(t, is.Equal(before.Config.Labels["docker-workspace.subdir"], tc.first))
			want := fmt.Sprintf("belongs to workspace %q, not %q", tc.first, tc.second)
			h.ws("ensure", tc.second).Assert(t, icmd.Expected{ExitCode: 1, Err: want})
			h.ws("stop", tc.second).Assert(t, icmd.Expected{ExitCode: 1, Err: want})
			h.ws("rm", "-f", tc.second).Assert(t, icmd.Expected{ExitCode: 1, Err: want})
			after := h.inspect("modern", name)
			assert.Check(t, is.Equal(after.ID, before.ID))
			assert.Check(t, is.Equal(after.State.Status, "running"))
			assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt), "touched")
			_, err := os.Stat(filepath.Join(h.workspaceRoot(), tc.second))
			assert.Check(t, os.IsNotExist(err), "the second workspace's directory was created")
		})
	}
}

func TestPausedContainer(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	id := strings.TrimSpace(h.ws("ensure", s).Assert(t, icmd.Success).Stdout())
	h.docker("pause", containerName(s)).Assert(t, icmd.Success)
	h.ws("ensure", "--format", "{{.ID}} {{.Action}}", s).Assert(t, icmd.Expected{Out: id + " unpaused"})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).State.Status, "running"))
}

// An image reference that now names another image: ls shows the drift,
// ensure keeps the container unless asked to replace it, and a replacement
// keeps the workspace data.
func TestDrift(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	ref := "e2e/drift:" + h.id
	h.docker("tag", image, ref).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("rmi", "-f", ref) })
	s := h.subdir("")
	name := containerName(s)
	first := strings.TrimSpace(h.ws("ensure", "--image", ref, s).Assert(t, icmd.Success).Stdout())
	h.docker("exec", name, "sh", "-c", "echo keep > /home/agent/workspace/data.txt").Assert(t, icmd.Success)
	h.ws("ls", "--image", ref, "--format", "{{.Subdir}} {{.Drift}}").Assert(t, icmd.Expected{Out: s + " []"})

	// The reference moves to a new image.
	dir := fs.NewDir(t, "img", fs.WithFile("Dockerfile", "FROM "+image+"\nLABEL e2e.drift="+h.id+"\n"))
	h.withEnv("DOCKER_BUILDKIT=0").docker("build", "-q", "-t", ref, dir.Path()).Assert(t, icmd.Success)
	h.ws("ls", "--image", ref, "--format", "{{.Subdir}} {{.Drift}}").Assert(t, icmd.Expected{Out: s + " [image]"})

	// Without --recreate: kept (a warm ensure does not resolve the image).
	h.ws("ensure", "--image", ref, "--format", "{{.ID}} {{.Action}}", s).Assert(t, icmd.Expected{Out: first + " running"})
	// A configuration change is reported, and kept.
	res := h.ws("ensure", "--image", ref, "--memory", "64m", "--format", "json", s)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "differs from the configuration (limits)"))
	out := jsonLines(t, res.Stdout())
	assert.Check(t, is.Equal(out[0]["ID"], first))
	assert.Check(t, is.DeepEqual(out[0]["Drift"], []any{"limits"}))
	// --recreate never, explicitly: the image is compared, and kept.
	res = h.ws("ensure", "--image", ref, "--pull", "never", "--recreate", "never", "--format", "{{.Action}}", s)
	res.Assert(t, icmd.Expected{Out: "running"})

	// --recreate if-changed: replaced, with the new image, data kept.
	res = h.ws("ensure", "--image", ref, "--recreate", "if-changed", "--format", "{{.ID}} {{.Action}}", s)
	res.Assert(t, icmd.Success)
	second, action, _ := strings.Cut(strings.TrimSpace(res.Stdout()), " ")
	assert.Check(t, is.Equal(action, "recreated"))
	assert.Check(t, second != first)
	newImage := strings.TrimSpace(h.docker("image", "inspect", "--format", "{{.Id}}", ref).Stdout())
	h.docker("inspect", "--format", "{{.Image}}", name).Assert(t, icmd.Expected{Out: newImage})
	h.docker("exec", name, "cat", "/home/agent/workspace/data.txt").Assert(t, icmd.Expected{Out: "keep"})
	h.ws("ls", "--image", ref, "--format", "{{.Subdir}} {{.Drift}}").Assert(t, icmd.Expected{Out: s + " []"})

	// if-changed with nothing changed: kept; always: replaced.
	h.ws("ensure", "--image", ref, "--recreate", "if-changed", "--format", "{{.ID}} {{.Action}}", s).Assert(t, icmd.Expected{Out: second + " running"})
	res = h.ws("ensure", "--image", ref, "--recreate", "always", "--format", "{{.ID}} {{.Action}}", s)
	res.Assert(t, icmd.Success)
	third, action, _ := strings.Cut(strings.TrimSpace(res.Stdout()), " ")
	assert.Check(t, is.Equal(action, "recreated"))
	assert.Check(t, third != second)
	h.docker("exec", name, "cat", "/home/agent/workspace/data.txt").Assert(t, icmd.Expected{Out: "keep"})
}

// A root named through a symlink is the directory the symlink names: by its
// real path it is no drift; the symlink turned elsewhere is a "mounts"
// drift, and --recreate if-changed mounts where it leads now (issue 22,
// pass 16: the text of the root was compared, and a moved symlink kept the
// old mount unseen).
func TestDriftFollowsASymlinkedRoot(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	r1, r2, link := filepath.Join(h.dataDir, "r1"), filepath.Join(h.dataDir, "r2"), filepath.Join(h.dataDir, "link")
	assert.NilError(t, os.MkdirAll(r1, 0o700))
	assert.NilError(t, os.MkdirAll(r2, 0o700))
	assert.NilError(t, os.Symlink(r1, link))
	s := h.subdir("")
	name := containerName(s)
	drift := func(root string) *icmd.Result {
		return h.ws("ls", "--workspace-root", root, "--filter", "name="+name, "--format", "{{.Subdir}} {{.Drift}}")
	}
	h.ws("ensure", "--workspace-root", link, s).Assert(t, icmd.Success)
	h.docker("exec", name, "sh", "-c", "echo one > /home/agent/workspace/f").Assert(t, icmd.Success)
	drift(link).Assert(t, icmd.Expected{Out: s + " []"})
	drift(r1).Assert(t, icmd.Expected{Out: s + " []"})
	h.ws("ensure", "--workspace-root", r1, "--recreate", "if-changed", "--format", "{{.Action}}", s).Assert(t, icmd.Expected{Out: "running"})

	assert.NilError(t, os.Remove(link))
	assert.NilError(t, os.Symlink(r2, link))
	drift(link).Assert(t, icmd.Expected{Out: s + " [mounts]"})
	res := h.ws("ensure", "--workspace-root", link, "--format", "{{.Action}}", s)
	res.Assert(t, icmd.Expected{Out: "running", Err: "differs from the configuration (mounts)"})
	h.ws("ensure", "--workspace-root", link, "--recreate", "if-changed", "--format", "{{.Action}}", s).Assert(t, icmd.Expected{Out: "recreated"})
	h.docker("inspect", "--format", `{{range .Mounts}}{{if eq .Destination "/home/agent/workspace"}}{{.Source}}{{end}}{{end}}`, name).
		Assert(t, icmd.Expected{Out: filepath.Join(r2, s)})
	drift(link).Assert(t, icmd.Expected{Out: s + " []"})
	// The data stays where it was: r1's, not carried (nothing is deleted).
	b, err := os.ReadFile(filepath.Join(r1, s, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "one\n"))
}

func TestSymlinkEscapeIsRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	outside := fs.NewDir(t, "outside")
	root := fs.NewDir(t, "root")
	assert.NilError(t, os.Symlink(outside.Path(), filepath.Join(root.Path(), "evil")))
	s := h.subdir("")
	res := h.ws("ensure", "--workspace-root", root.Path(), "evil/"+s)
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "/evil is a symlink: symlinks are never followed below a workspace root"})
	assert.Check(t, !h.exists("modern", containerName("evil/"+s)))
	entries, err := os.ReadDir(outside.Path())
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0), "created outside the root: %v", entries)
}

// Limits and hardening reach the engine, and work.
func TestLimitsAndHardening(t *testing.T) {
	for _, ctx := range []string{"modern", "legacy"} {
		t.Run(ctx, func(t *testing.T) {
			requireEngine(t, ctx)
			h := newHarness(t)
			s := h.subdir("")
			h.docker("--context", ctx, "workspace", "ensure", "--profile", "hardened", "--cpus", "0.5", "--memory", "64m",
				"--pids-limit", "100", "--user", "1000:1000", "--label", "team=blue", "--env", "GREETING=hello,world", s).
				Assert(t, icmd.Success)
			name := containerName(s)
			format := `{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} ` +
				`{{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.Init}} {{.Config.User}} {{index .Config.Labels "team"}} {{json .HostConfig.Tmpfs}}`
			h.docker("--context", ctx, "inspect", "--format", format, name).Assert(t, icmd.Expected{
				Out: `500000000 67108864 100 true [ALL] [no-new-privileges] true 1000:1000 blue {"/tmp":"rw,nosuid,nodev,mode=1777"}`,
			})
			exec := func(cmd string) *icmd.Result {
				return h.docker("--context", ctx, "exec", name, "sh", "-c", cmd)
			}
			exec("echo $GREETING").Assert(t, icmd.Expected{Out: "hello,world"})
			exec("id -u").Assert(t, icmd.Expected{Out: "1000"})
			exec("touch /root-is-read-only").Assert(t, icmd.Expected{ExitCode: 1})
			exec("touch /tmp/x && touch /home/agent/workspace/x").Assert(t, icmd.Success)
			// tini is PID 1: it reaps zombies and forwards the stop signal.
			exec("cat /proc/1/cmdline | tr '\\0' ' '").Assert(t, icmd.Expected{Out: "init -- sleep infinity"})
			fi, err := os.Stat(filepath.Join(h.workspaceRoot(), s))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(ownerOf(t, fi), "1000:1000"), "the workspace directory is not the container user's")
			fi, err = os.Stat(h.sharedDir())
			assert.NilError(t, err)
			assert.Check(t, is.Equal(ownerOf(t, fi), "1000:1000"), "the shared directory is not the container user's")
		})
	}
}

// In volume_subpath mode a missing subdir is created in the volume, owned by
// the container user, a named one resolved through the image's /etc/passwd;
// without --user, the image's own user (agent).
func TestVolumeSubdirOwnership(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	wsVol, shVol := h.volume("modern", "ws"), h.volume("modern", "sh")
	for user, want := range map[string]string{"agent": "1000:1000", "1234:1234": "1234:1234", "root": "0:0", "": "1000:1000"} {
		s := h.subdir("-u" + strings.ReplaceAll(user, ":", "-"))
		args := []string{"ensure", "--mount-mode", "volume_subpath", "--workspace-volume", wsVol, "--shared-volume", shVol, s}
		if user != "" {
			args = append(args, "--user", user)
		}
		h.ws(args...).Assert(t, icmd.Success)
		h.docker("run", "--rm", "-v", wsVol+":/v", image, "stat", "-c", "%u:%g", "/v/"+s).Assert(t, icmd.Expected{Out: want})
		if user != "" {
			h.docker("exec", containerName(s), "touch", "/home/agent/workspace/mine").Assert(t, icmd.Success)
		}
	}
}

// rm removes the container and keeps every byte of data.
func TestRemoveKeepsData(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	wsVol, shVol := h.volume("modern", "ws"), h.volume("modern", "sh")
	b, v := h.subdir("-bind"), h.subdir("-vol")
	volFlags := []string{"--mount-mode", "volume_subpath", "--workspace-volume", wsVol, "--shared-volume", shVol}
	h.ws("ensure", b).Assert(t, icmd.Success)
	h.ws(append(append([]string{"ensure"}, volFlags...), v)...).Assert(t, icmd.Success)
	for _, s := range []string{b, v} {
		h.docker("exec", containerName(s), "sh", "-c", "echo kept > /home/agent/workspace/f && echo shared > /home/agent/shared/"+s).Assert(t, icmd.Success)
	}
	h.ws("rm", b).Assert(t, icmd.Expected{ExitCode: 1, Err: "is running: stop it first"})
	assert.Check(t, h.exists("modern", containerName(b)))
	h.ws("rm", "-f", b, v).Assert(t, icmd.Expected{Out: b + "\n" + v})
	assert.Check(t, !h.exists("modern", containerName(b)))
	assert.Check(t, !h.exists("modern", containerName(v)))
	h.ws("rm", b).Assert(t, icmd.Expected{ExitCode: 1, Err: `no such workspace: workspace "` + b + `" has no container`})
	h.ws("rm", "-f", b).Assert(t, icmd.Expected{ExitCode: 0, Out: "", Err: ""})

	got, err := os.ReadFile(filepath.Join(h.workspaceRoot(), b, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), "kept\n"))
	h.docker("volume", "inspect", wsVol).Assert(t, icmd.Success)
	h.docker("volume", "inspect", shVol).Assert(t, icmd.Success)
	h.docker("run", "--rm", "-v", wsVol+":/v", image, "cat", "/v/"+v+"/f").Assert(t, icmd.Expected{Out: "kept"})

	// The next ensure makes a new container that sees the data.
	h.ws(append(append([]string{"ensure"}, volFlags...), v)...).Assert(t, icmd.Success)
	h.docker("exec", containerName(v), "cat", "/home/agent/workspace/f", "/home/agent/shared/"+v).Assert(t, icmd.Expected{Out: "kept\nshared"})
}

func ownerOf(t *testing.T, fi os.FileInfo) string {
	t.Helper()
	uid, gid, ok := fileOwner(fi)
	assert.Assert(t, ok)
	return strconv.Itoa(uid) + ":" + strconv.Itoa(gid)
}
