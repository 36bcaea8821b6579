package sandbox

import "fmt"

// DiskQuota is why a disk cap (Config.Disk, Limits.Disk) cannot be
// enforced on a workspace whose directory is on a file system of type fs
// ("" when it cannot be looked at from here: a volume, a remote engine,
// an orchestrator of nodes). A cap must be enforced by the file system —
// an XFS project quota per workspace directory, inherited by all below it
// so that hard links, renames and new directories cannot escape it — and
// this build sets none: it refuses a cap rather than accept one it would
// not keep. The error wraps ErrNotSupported.
func DiskQuota(fs string) error {
	return &DiskCapError{Why: DiskQuotaReason(fs)}
}

// DiskCapError is a disk cap refused; it matches ErrNotSupported.
type DiskCapError struct{ Why string }

func (e *DiskCapError) Error() string { return "a disk cap cannot be enforced: " + e.Why }

// Is makes a DiskCapError match ErrNotSupported.
func (e *DiskCapError) Is(target error) bool { return target == ErrNotSupported }

// DiskQuotaReason is why a disk cap cannot be enforced (see DiskQuota).
func DiskQuotaReason(fs string) string {
	why := "it needs an XFS project quota on the workspace's directory, and this build sets none"
	switch fs {
	case "":
	case "xfs":
		why = "the workspace's directory is on XFS, and this build sets no XFS project quota"
	default:
		why = fmt.Sprintf("the workspace's directory is on %s: it needs XFS with project quotas (prjquota), and this build sets none", fs)
	}
	return why
}

// WritableLayerCap says whether an engine's storage driver can cap a
// container's writable layer (--storage-opt size): overlay2 on XFS with
// project quotas, btrfs, zfs. backing is the driver's "Backing
// Filesystem" ("" when it does not say).
func WritableLayerCap(driver, backing string) string {
	switch {
	case driver == "btrfs" || driver == "zfs":
		return fmt.Sprintf("can be capped (storage driver %s); workspaces are made without a cap", driver)
	case driver == "overlay2" && backing == "xfs":
		return "can be capped if the engine's storage is mounted with pquota (storage driver overlay2 on xfs); workspaces are made without a cap"
	case backing != "":
		return fmt.Sprintf("no cap: storage driver %s on %s cannot limit it (it needs xfs with pquota, btrfs or zfs)", driver, backing)
	}
	return fmt.Sprintf("no cap: storage driver %s cannot limit it (it needs overlay2 on xfs with pquota, btrfs or zfs)", driver)
}
