package claims

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// workspaceCtr is a running container of a workspace whose workspace and
// shared directory are mounts of a type (bind: host paths; volume: names).
func workspaceCtr(subdir string, typ mount.Type, ws, shared string) container.Summary {
	mp := func(src, dst string) container.MountPoint {
		if typ == mount.TypeVolume {
			return container.MountPoint{Type: typ, Name: src, Destination: dst}
		}
		return container.MountPoint{Type: typ, Source: src, Destination: dst}
	}
	return container.Summary{ID: "c-" + subdir, Names: []string{"/" + sandbox.ContainerName(subdir)}, Labels: map[string]string{sandbox.LabelSubdir: subdir},
		Mounts: []container.MountPoint{mp(ws, sandbox.WorkspaceTarget), mp(shared, sandbox.SharedTarget)}}
}

// A volume that binds a host directory meets the bind mounts there: its
// workspaces may not lie in another configuration's shared directory or
// workspace, nor its shared directory in another's workspace (issue 17, 3).
func TestBindVolumesMeetBindMounts(t *testing.T) {
	ctrs := []container.Summary{workspaceCtr("alice", mount.TypeBind, "/srv/t/root/alice", "/srv/t/shared")}
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

// The existing containers' volumes are compared by the host directories
// they bind too (attack on issue 17: B3, B6): a bind shared directory
// above a running bind volume's workspaces, and a bind root around one,
// are refused.
func TestExistingBindVolumesMeetNewBindMounts(t *testing.T) {
	ctrs := []container.Summary{workspaceCtr("v1", mount.TypeVolume, "kv", "ksh")}
	devices := map[string]string{"kv": "/srv/k/vroot", "ksh": "/srv/ksh"}
	above := New{Self: Claim{Subdir: "b1", Bind: "/srv/r4/b1"}, Shared: Claim{Bind: "/srv/k"}, Devices: devices}
	assert.Check(t, NeedsDevices(above, ctrs))
	conflicts, err := Check(above, ctrs, nil)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(conflicts, 1))
	assert.Check(t, is.ErrorContains(conflicts[0].Err, `the shared directory of workspace "b1" would be, hold or lie in the directory of workspace "v1"`))

	around := New{Self: Claim{Subdir: "o1", Bind: "/srv/k/o1"}, Shared: Claim{Bind: "/srv/sh4"}, Devices: devices}
	conflicts, err = Check(around, ctrs, nil)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(conflicts, 1))
	assert.Check(t, is.ErrorContains(conflicts[0].Err, "the workspace root /srv/k of workspace \"o1\" and the root /srv/k/vroot of workspace \"v1\""))

	// Without the devices the volumes say nothing; apart, nothing meets.
	around.Devices = nil
	conflicts, _ = Check(around, ctrs, nil)
	assert.Check(t, is.Len(conflicts, 0))
	apart := New{Self: Claim{Subdir: "o1", Bind: "/srv/elsewhere/o1"}, Shared: Claim{Bind: "/srv/sh4"}, Devices: devices}
	conflicts, _ = Check(apart, ctrs, nil)
	assert.Check(t, is.Len(conflicts, 0))
	assert.Check(t, !NeedsDevices(New{Self: Claim{Subdir: "x", Volume: "v", Subpath: "x"}}, ctrs))
}
