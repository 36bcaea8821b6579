package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
)

const image = "agent/workspace:latest"

func TestEnsureBindLifecycle(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	name := containerName(a)

	// Create.
	res := h.ws("ensure", "--format", "json", a)
	res.Assert(t, icmd.Success)
	got := jsonLines(t, res.Stdout())
	assert.Assert(t, is.Len(got, 1))
	assert.Check(t, is.Equal(got[0]["Action"], "created"))
	assert.Check(t, is.Equal(got[0]["Name"], name))
	assert.Check(t, is.Equal(got[0]["Subdir"], a))
	assert.Check(t, is.Equal(got[0]["Mode"], "bind"))
	assert.Check(t, is.Equal(got[0]["Image"], image))
	id := got[0]["ID"].(string)

	c := h.inspect("modern", name)
	assert.Check(t, is.Equal(c.ID, id))
	assert.Check(t, is.Equal(c.Name, "/"+name))
	assert.Check(t, is.Equal(c.State.Status, "running"))
	assert.Check(t, is.Equal(c.Config.Image, image))
	assert.Check(t, is.DeepEqual(c.Config.Entrypoint, []string{"sleep", "infinity"}))
	assert.Check(t, is.Equal(c.Config.Labels["docker-workspace.subdir"], a))
	assert.Check(t, is.Equal(c.Config.Labels["docker-workspace.mode"], "bind"))
	assert.Check(t, c.HostConfig.Init != nil && *c.HostConfig.Init)
	typ, _, src, rw := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(typ, "bind"))
	assert.Check(t, is.Equal(src, filepath.Join(h.workspaceRoot(), a)))
	assert.Check(t, rw)
	typ, _, src, rw = c.mountAt(t, "/home/agent/shared")
	assert.Check(t, is.Equal(typ, "bind"))
	assert.Check(t, is.Equal(src, h.sharedDir()))
	assert.Check(t, rw)

	// A second ensure returns the same container, untouched.
	h.ws("ensure", a).Assert(t, icmd.Expected{Out: id})
	again := h.inspect("modern", name)
	assert.Check(t, is.Equal(again.State.StartedAt, c.State.StartedAt), "the running container was restarted")

	// After docker stop, ensure starts the same container.
	h.docker("stop", name).Assert(t, icmd.Success)
	res = h.ws("ensure", "--format", "{{.ID}} {{.Action}}", a)
	res.Assert(t, icmd.Expected{Out: id + " started"})
	assert.Check(t, is.Equal(h.inspect("modern", name).State.Status, "running"))

	// Data lands in the workspace directory; another workspace cannot see it.
	h.docker("exec", name, "sh", "-c", "echo secret > /home/agent/workspace/note.txt && echo shared > /home/agent/shared/s.txt").
		Assert(t, icmd.Success)
	// The image runs as agent (1000:1000): the workspace directory was made
	// for it, and the file is its own.
	assert.Assert(t, fs.Equal(filepath.Join(h.workspaceRoot(), a), fs.Expected(t, fs.AsUser(1000, 1000),
		fs.WithFile("note.txt", "secret\n", fs.AsUser(1000, 1000), fs.MatchAnyFileMode), fs.MatchAnyFileMode)))
	h.ws("ensure", b).Assert(t, icmd.Success)
	h.docker("exec", containerName(b), "ls", "-A", "/home/agent/workspace").Assert(t, icmd.Expected{Out: ""})
	h.docker("exec", containerName(b), "cat", "/home/agent/workspace/note.txt").Assert(t, icmd.Expected{ExitCode: 1})
	h.docker("exec", containerName(b), "cat", "/home/agent/shared/s.txt").Assert(t, icmd.Expected{Out: "shared"})

	// Stop stops, and keeps the container and the data.
	h.ws("stop", a).Assert(t, icmd.Expected{Out: a})
	assert.Check(t, is.Equal(h.inspect("modern", name).State.Status, "exited"))
	_, err := os.Stat(filepath.Join(h.workspaceRoot(), a, "note.txt"))
	assert.Check(t, err)
}

func TestEnsureVolumeSubpathLifecycle(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	wsVol, shVol := h.volume("modern", "ws"), h.volume("modern", "sh")
	a, b := h.subdir("-a"), h.subdir("-b")
	name := containerName(a)
	flags := []string{"--mount-mode", "volume_subpath", "--workspace-volume", wsVol, "--shared-volume", shVol}

	res := h.ws(append(append([]string{"ensure"}, flags...), a)...)
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())

	c := h.inspect("modern", name)
	assert.Check(t, is.Equal(c.ID, id))
	assert.Check(t, is.Equal(c.State.Status, "running"))
	assert.Check(t, is.Equal(c.Config.Labels["docker-workspace.mode"], "volume_subpath"))
	typ, vol, _, rw := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(typ, "volume"))
	assert.Check(t, is.Equal(vol, wsVol))
	assert.Check(t, rw)
	typ, vol, _, _ = c.mountAt(t, "/home/agent/shared")
	assert.Check(t, is.Equal(typ, "volume"))
	assert.Check(t, is.Equal(vol, shVol))
	// The engine records the subpath in the container's mount spec.
	h.docker("inspect", "--format", "{{range .HostConfig.Mounts}}{{if .VolumeOptions}}{{.VolumeOptions.Subpath}}{{end}}{{end}}", name).
		Assert(t, icmd.Expected{Out: a})

	h.ws(append(append([]string{"ensure"}, flags...), a)...).Assert(t, icmd.Expected{Out: id})
	h.docker("stop", name).Assert(t, icmd.Success)
	h.ws(append(append([]string{"ensure", "--format", "{{.Action}}"}, flags...), a)...).Assert(t, icmd.Expected{Out: "started"})

	// The file lands in the volume's subdir; the other workspace sees none of it.
	h.docker("exec", name, "sh", "-c", "echo secret > /home/agent/workspace/note.txt").Assert(t, icmd.Success)
	h.ws(append(append([]string{"ensure"}, flags...), b)...).Assert(t, icmd.Success)
	h.docker("exec", containerName(b), "ls", "-A", "/home/agent/workspace").Assert(t, icmd.Expected{Out: ""})
	h.docker("run", "--rm", "-v", wsVol+":/v", image, "cat", "/v/"+a+"/note.txt").Assert(t, icmd.Expected{Out: "secret"})
	h.docker("run", "--rm", "-v", wsVol+":/v", image, "ls", "/v").Assert(t, icmd.Expected{Out: a + "\n" + b})

	h.ws("stop", "-t", "5", a, b).Assert(t, icmd.Expected{Out: a + "\n" + b})
	assert.Check(t, is.Equal(h.inspect("modern", name).State.Status, "exited"))
}

func TestEnsureNestedVolumeSubdir(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	wsVol, shVol := h.volume("modern", "ws"), h.volume("modern", "sh")
	team := h.subdir("")
	alice := team + "/alice"
	h.t.Cleanup(func() { h.docker("rm", "-f", "-v", containerName(alice)) })
	h.withEnv("GATEWAY_WORKSPACE_MOUNT_MODE=volume_subpath", "GATEWAY_WORKSPACE_DOCKER_VOLUME="+wsVol,
		"GATEWAY_SHARED_DOCKER_VOLUME="+shVol).ws("ensure", alice).Assert(t, icmd.Success)
	h.docker("exec", containerName(alice), "touch", "/home/agent/workspace/x").Assert(t, icmd.Success)
	h.docker("run", "--rm", "-v", wsVol+":/v", image, "ls", "/v/"+alice).Assert(t, icmd.Expected{Out: "x"})
}

func TestStopUnknownWorkspace(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	res := h.ws("stop", s)
	res.Assert(t, icmd.Expected{ExitCode: 0, Err: "has no container: nothing to stop"})
	assert.Check(t, !h.exists("modern", containerName(s)))
}

func TestList(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	res := h.ws("ensure", a, b)
	res.Assert(t, icmd.Success)
	ids := strings.Fields(res.Stdout())
	assert.Assert(t, is.Len(ids, 2))
	h.ws("stop", b).Assert(t, icmd.Success)

	table := h.ws("ls")
	table.Assert(t, icmd.Success)
	lines := strings.Split(strings.TrimSpace(table.Stdout()), "\n")
	assert.Check(t, is.DeepEqual(strings.Fields(lines[0]), []string{"SUBDIR", "NAME", "STATUS", "MODE", "IMAGE", "CREATED", "DRIFT"}))
	row := func(subdir string) []string {
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] == subdir {
				return f
			}
		}
		t.Fatalf("no row for %s in\n%s", subdir, table.Stdout())
		return nil
	}
	assert.Check(t, is.Equal(row(a)[1], containerName(a)))
	assert.Check(t, is.Equal(row(a)[2], "Up"))
	assert.Check(t, is.Equal(row(b)[2], "Exited"))
	assert.Check(t, is.Contains(strings.Join(row(a), " "), "bind "+image))
	assert.Check(t, is.Equal(row(a)[len(row(a))-1], "no"))

	js := h.ws("ls", "--format", "json")
	js.Assert(t, icmd.Success)
	found := map[string]map[string]any{}
	for _, o := range jsonLines(t, js.Stdout()) {
		found[o["Subdir"].(string)] = o
	}
	assert.Check(t, is.Equal(found[a]["State"], "running"))
	assert.Check(t, is.Equal(found[b]["State"], "exited"))
	assert.Check(t, is.Equal(found[a]["Name"], containerName(a)))
	assert.Check(t, is.Equal(found[a]["ID"], ids[0][:12]))

	q := h.ws("ls", "-q", "--no-trunc")
	q.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(q.Stdout(), ids[0]+"\n"))
	assert.Check(t, is.Contains(q.Stdout(), ids[1]+"\n"))

	tmpl := h.ws("ls", "--format", "{{.Subdir}}:{{.State}}")
	tmpl.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(tmpl.Stdout(), a+":running\n"))
	assert.Check(t, is.Contains(tmpl.Stdout(), b+":exited\n"))
}

// A container made by the original Python runner (our name, no labels) is
// adopted by ensure when it mounts the workspace we would mount, and listed
// by ls; one that mounts something else is refused and left alone.
func TestSeedContainer(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s, other := h.subdir("-ours"), h.subdir("-other")
	wsDir := filepath.Join(h.workspaceRoot(), s)
	assert.NilError(t, os.MkdirAll(wsDir, 0o755))
	h.docker("run", "-d", "--name", containerName(s), "--entrypoint", "sleep", "-v", wsDir+":/home/agent/workspace",
		image, "infinity").Assert(t, icmd.Success)
	id := h.inspect("modern", containerName(s)).ID
	h.docker("stop", "-t", "0", containerName(s)).Assert(t, icmd.Success)
	res := h.ws("ensure", "--format", "{{.ID}} {{.Action}}", s)
	res.Assert(t, icmd.Expected{Out: id + " started"})
	assert.Check(t, is.Contains(res.Stderr(), "differs from the configuration (unknown)"))
	ls := h.ws("ls", "--format", "{{.Name}} {{.Mode}} {{.Drift}}")
	ls.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(ls.Stdout(), containerName(s)+" bind []\n"), "nothing changed under it")
	ls = h.ws("ls", "--check-config", "--format", "{{.Name}} {{.Mode}} {{.Drift}}")
	ls.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(ls.Stdout(), containerName(s)+" bind [unknown]\n"), "it recorded no configuration")

	elsewhere := fs.NewDir(t, "elsewhere")
	h.docker("run", "-d", "--name", containerName(other), "--entrypoint", "sleep", "-v", elsewhere.Path()+":/home/agent/workspace",
		image, "infinity").Assert(t, icmd.Success)
	before := h.inspect("modern", containerName(other))
	h.ws("ensure", other).Assert(t, icmd.Expected{ExitCode: 1, Err: "refusing to adopt it"})
	after := h.inspect("modern", containerName(other))
	assert.Check(t, is.Equal(after.State.StartedAt, before.State.StartedAt))
	assert.Check(t, is.Equal(after.ID, before.ID))
}
