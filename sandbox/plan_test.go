package sandbox

import (
	"testing"

	"github.com/docker/docker/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPlanMounts(t *testing.T) {
	bind := Config{Mode: ModeBind, WorkspaceRoot: "/srv/ws", SharedDir: "/srv/shared/"}
	remote := bind
	remoteApart, remoteInside := bind, bind
	remoteApart.SharedDir, remoteInside.SharedDir = "/var/shared", "/srv/ws/shared"
	local := bind
	local.CreateHostDirs = true
	volume := Config{Mode: ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh"}
	create := &mount.BindOptions{CreateMountpoint: true}
	for _, tc := range []struct {
		name    string
		cfg     Config
		api     string
		prepare string
		mounts  []mount.Mount
		helper  []mount.Mount
		err     string
	}{
		{name: "bind, local", cfg: local, api: "1.41", prepare: PrepareHere, mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv/ws/team/a", Target: WorkspaceTarget},
			{Type: mount.TypeBind, Source: "/srv/shared", Target: SharedTarget},
		}},
		{name: "bind, remote", cfg: remote, api: "1.51", prepare: PrepareHelper, mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv/ws/team/a", Target: WorkspaceTarget, BindOptions: create},
			{Type: mount.TypeBind, Source: "/srv/shared", Target: SharedTarget, BindOptions: create},
		}, helper: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv", Target: "/host/srv", BindOptions: create},
		}},
		{name: "bind, remote, two top-level directories", cfg: remoteApart, api: "1.51", prepare: PrepareHelper, mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv/ws/team/a", Target: WorkspaceTarget, BindOptions: create},
			{Type: mount.TypeBind, Source: "/var/shared", Target: SharedTarget, BindOptions: create},
		}, helper: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv", Target: "/host/srv", BindOptions: create},
			{Type: mount.TypeBind, Source: "/var", Target: "/host/var", BindOptions: create},
		}},
		{name: "bind, remote, shared directory in the root", cfg: remoteInside, api: "1.51", err: "overlaps the workspace root /srv/ws"},
		{name: "bind, remote, before API 1.42", cfg: remote, api: "1.41", prepare: PrepareNone, mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/srv/ws/team/a", Target: WorkspaceTarget},
			{Type: mount.TypeBind, Source: "/srv/shared", Target: SharedTarget},
		}},
		{name: "volume", cfg: volume, api: "1.45", prepare: PrepareHelper, mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "ws", Target: WorkspaceTarget, VolumeOptions: &mount.VolumeOptions{Subpath: "team/a", NoCopy: true}},
			{Type: mount.TypeVolume, Source: "sh", Target: SharedTarget},
		}, helper: []mount.Mount{
			{Type: mount.TypeVolume, Source: "ws", Target: HelperVolumePoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
			{Type: mount.TypeVolume, Source: "sh", Target: HelperSharedPoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		}},
		{name: "volume, before API 1.45", cfg: volume, api: "1.44", err: "it would silently mount the whole volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanMounts(tc.cfg, "team/a", tc.api)
			if tc.err != "" {
				assert.Check(t, is.ErrorContains(err, tc.err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(plan.Prepare, tc.prepare))
			assert.Check(t, is.DeepEqual(plan.Mounts, tc.mounts))
			assert.Check(t, is.DeepEqual(plan.Helper, tc.helper))
		})
	}
}
