package sandbox

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestListKeepsWorkspaceContainers(t *testing.T) {
	wsMount := func(typ mount.Type) []container.MountPoint {
		return []container.MountPoint{{Type: typ, Destination: WorkspaceTarget}}
	}
	f := &fakeClient{listFn: func(opts container.ListOptions) ([]container.Summary, error) {
		assert.Check(t, opts.All)
		assert.Check(t, is.DeepEqual(opts.Filters.Get("name"), []string{"^/?gws-"}))
		return []container.Summary{
			{ID: "2", Names: []string{"/gws-b"}, Image: "img", State: "exited", Labels: map[string]string{LabelSubdir: "B", LabelMode: "volume_subpath"}},
			{ID: "1", Names: []string{"/gws-a"}, Image: "img", State: "running", Created: 100, Labels: map[string]string{LabelSubdir: "a", LabelMode: "bind"}},
			{ID: "3", Names: []string{"/gws-seed"}, Image: "img", Labels: map[string]string{"image.label": "x"}, Mounts: wsMount(mount.TypeVolume)},
			{ID: "4", Names: []string{"/gws-other"}, Image: "img"},                              // no label, no workspace mount
			{ID: "5", Names: []string{"/x-gws-a"}, Labels: map[string]string{LabelSubdir: "x"}}, // not our name
			{ID: "6", Names: []string{"/gws-seed-bind"}, Mounts: wsMount(mount.TypeBind)},
		}, nil
	}}
	got, err := NewManager(f).List(context.Background())
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
	assert.Check(t, is.Equal(got[0].Created.Unix(), int64(100)))
}
