package claims

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// bindWorkspace is a running container of a bind configuration.
func bindWorkspace(subdir, dir, shared string) container.Summary {
	return container.Summary{ID: "c-" + subdir, Names: []string{"/" + sandbox.ContainerName(subdir)}, Labels: map[string]string{sandbox.LabelSubdir: subdir},
		Mounts: []container.MountPoint{
			{Type: mount.TypeBind, Source: dir, Destination: sandbox.WorkspaceTarget},
			{Type: mount.TypeBind, Source: shared, Destination: sandbox.SharedTarget},
		}}
}

// A volume that binds a host directory meets the bind mounts there: its
// workspaces may not lie in another configuration's shared directory or
// workspace, nor its shared directory in another's workspace (issue 17, 3).
func TestBindVolumesMeetBindMounts(t *testing.T) {
	ctrs := []container.Summary{bindWorkspace("alice", "/srv/t/root/alice", "/srv/t/shared")}
	for _, tc := range []struct {
		name string
		n    New
		err  string
	}{
		{name: "a workspace in another's shared directory",
			n:   New{Self: Claim{Subdir: "ev", Volume: "bv", Subpath: "ev", Host: "/srv/t/shared/ev"}},
			err: `workspace "ev" would be, hold or lie in the shared directory of workspace "alice"`},
		{name: "a workspace holding another's",
			n:   New{Self: Claim{Subdir: "t", Volume: "bv", Subpath: "t", Host: "/srv/t"}},
			err: `workspace "t" overlaps workspace "alice"`},
		{name: "a shared directory in another's workspace",
			n:   New{Self: Claim{Subdir: "x", Volume: "bv", Subpath: "x", Host: "/srv/other/x"}, Shared: Claim{Volume: "bs", Host: "/srv/t/root/alice/s"}},
			err: `the shared directory of workspace "x" would be, hold or lie in the directory of workspace "alice"`},
		{name: "apart", n: New{Self: Claim{Subdir: "x", Volume: "bv", Subpath: "x", Host: "/srv/other/x"}, Shared: Claim{Volume: "bs", Host: "/srv/other-shared"}}},
		{name: "a volume of unknown storage", n: New{Self: Claim{Subdir: "x", Volume: "bv", Subpath: "x"}, Shared: Claim{Volume: "bs"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conflicts, err := Check(tc.n, ctrs, nil)
			assert.NilError(t, err)
			if tc.err == "" {
				assert.Check(t, is.Len(conflicts, 0))
				return
			}
			assert.Assert(t, is.Len(conflicts, 1))
			assert.Check(t, is.ErrorIs(conflicts[0].Err, sandbox.ErrOverlap))
			assert.Check(t, is.ErrorContains(conflicts[0].Err, tc.err))
		})
	}
	// In one volume the subpaths decide, as before.
	a := Claim{Subdir: "a", Volume: "v", Subpath: "a", Host: "/d/a"}
	assert.Check(t, Overlaps(a, Claim{Subdir: "a/b", Volume: "v", Subpath: "a/b", Host: "/d/a/b"}))
	assert.Check(t, !Overlaps(a, Claim{Subdir: "ab", Volume: "v", Subpath: "ab", Host: "/d/ab"}))
}
