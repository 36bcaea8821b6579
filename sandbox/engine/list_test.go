package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func TestListKeepsWorkspaceContainers(t *testing.T) {
	f := sandboxtest.NewEngine()
	labels := func(kv ...string) container.Config {
		l := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return container.Config{Image: "img", Labels: l}
	}
	wsMount := func(typ mount.Type) container.HostConfig {
		return container.HostConfig{Mounts: []mount.Mount{{Type: typ, Source: "v", Target: sandbox.WorkspaceTarget}}}
	}
	f.Add("gws-b", container.StateExited, labels(sandbox.LabelSubdir, "B", sandbox.LabelMode, "volume_subpath"), container.HostConfig{})
	a := f.Add("gws-a", container.StateRunning, labels(sandbox.LabelSubdir, "a", sandbox.LabelMode, "bind"), container.HostConfig{})
	f.Add("gws-seed", container.StateRunning, labels("image.label", "x"), wsMount(mount.TypeVolume))
	f.Add("gws-other", container.StateRunning, labels(), container.HostConfig{})                       // no label, no workspace mount
	f.Add("x-gws-a", container.StateRunning, labels(sandbox.LabelSubdir, "x"), container.HostConfig{}) // not our name
	f.Add("gws-seed-bind", container.StateRunning, labels(), wsMount(mount.TypeBind))
	f.Add("gws-task", container.StateRunning, labels(sandbox.LabelSubdir, "t", claims.TaskLabel, "x"), container.HostConfig{}) // a service's
	got, err := newManager(f).List(context.Background())
	assert.NilError(t, err)
	var names, subdirs, modes []string
	for _, w := range got {
		names = append(names, w.Name)
		subdirs = append(subdirs, w.Subdir)
		modes = append(modes, string(w.Mode))
	}
	assert.Check(t, is.DeepEqual(names, []string{"gws-a", "gws-b", "gws-seed", "gws-seed-bind"}))
	assert.Check(t, is.DeepEqual(subdirs, []string{"a", "B", "", ""}))
	assert.Check(t, is.DeepEqual(modes, []string{"bind", "volume_subpath", "volume_subpath", "bind"}))
	assert.Check(t, is.Equal(got[0].State, "running"))
	assert.Check(t, is.Equal(got[0].Created.Unix(), a.Created.Unix()))
}

// Once the tag a workspace was made from moves to another image, the
// engine lists the container's image as its ID: the reference it was made
// from is in its labels, and the drift is told (issue 22, 4).
func TestImageDriftAfterTheTagMoved(t *testing.T) {
	f := sandboxtest.NewEngine()
	cfg := volumeConfig()
	c := ours(f, "a", cfg, container.StateRunning)
	c.Cfg.Image = "sha256:" + strings.Repeat("0", 64) // as the engine lists it now
	img := f.Images[sandbox.DefaultImage]
	img.ID = "sha256:" + strings.Repeat("1", 64)
	f.Images[sandbox.DefaultImage] = img
	m := newManager(f)
	ws, err := m.List(context.Background())
	assert.NilError(t, err)
	assert.NilError(t, m.CheckDrift(context.Background(), ws, nil))
	assert.Assert(t, is.Len(ws, 1))
	assert.Check(t, is.DeepEqual(ws[0].Drift, []string{sandbox.DriftImage}))
}
