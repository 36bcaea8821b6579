package hostfs

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fsTypes names the file systems statfs tells by their magic number.
var fsTypes = map[int64]string{
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.EXT4_SUPER_MAGIC:      "ext4",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	0x2fc12fc1:                 "zfs",
}

// FSType names the file system p is on ("" when it cannot be told: p or
// the nearest existing directory above it cannot be looked at). It only
// reads: a cap's refusal and doctor say it.
func FSType(p string) string {
	var st unix.Statfs_t
	for {
		if err := unix.Statfs(p, &st); err == nil {
			if name, ok := fsTypes[int64(st.Type)]; ok { //nolint:unconvert // int32 on some arches
				return name
			}
			return "an unknown file system"
		}
		parent := filepath.Dir(p)
		if parent == p {
			return ""
		}
		p = parent
	}
}
