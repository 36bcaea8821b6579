package sandbox

import (
	"fmt"
	"slices"
)

// DefaultPidsLimit is the process limit of a workspace of the CLI's
// default profile: a fork bomb in one workspace stops there, and the
// others still run commands.
const DefaultPidsLimit = 4096

// MinMemory is the smallest memory limit an engine takes (6 MiB, as
// `docker run --memory` says).
const MinMemory = 6 << 20

// Limits are what Update changes of a workspace; a nil field stays as it
// is.
type Limits struct {
	// NanoCPUs is CPUs in billionths (1.5 CPUs: 1.5e9).
	NanoCPUs *int64
	// Memory is a memory limit in bytes.
	Memory *int64
	// PidsLimit is a process limit; 0 lifts it.
	PidsLimit *int64
	// Disk caps what the workspace's directory holds, in bytes (see
	// Config.Disk: refused, ErrNotSupported, by this build).
	Disk *int64
}

// Validate refuses limits that change nothing, or that an engine would
// take as "leave it as it is" (0 CPUs, 0 memory) while the caller asked
// for a change; its errors wrap ErrInvalidConfig.
func (l Limits) Validate() error {
	switch {
	case l.NanoCPUs == nil && l.Memory == nil && l.PidsLimit == nil && l.Disk == nil:
		return fmt.Errorf("%w: no limit to change", ErrInvalidConfig)
	case l.NanoCPUs != nil && *l.NanoCPUs <= 0:
		return fmt.Errorf("%w: cpus must be more than 0 (an engine takes 0 as no change: a CPU limit cannot be lifted live)", ErrInvalidConfig)
	case l.Memory != nil && *l.Memory == 0:
		return fmt.Errorf("%w: memory must be at least 6MiB (an engine takes 0 as no change: a memory limit cannot be lifted live)", ErrInvalidConfig)
	case l.Memory != nil && *l.Memory < MinMemory:
		return fmt.Errorf("%w: memory must be at least 6MiB, as an engine takes it", ErrInvalidConfig)
	case l.PidsLimit != nil && *l.PidsLimit < 0:
		return fmt.Errorf("%w: pids-limit must not be negative (0 lifts it)", ErrInvalidConfig)
	case l.Disk != nil && *l.Disk <= 0:
		return fmt.Errorf("%w: a disk cap must be more than 0", ErrInvalidConfig)
	case l.Disk != nil:
		return DiskQuota("")
	}
	return nil
}

// Apply is s with the limits set in l.
func (l Limits) Apply(s Spec) Spec {
	if l.NanoCPUs != nil {
		s.NanoCPUs = *l.NanoCPUs
	}
	if l.Memory != nil {
		s.Memory = *l.Memory
	}
	if l.PidsLimit != nil {
		s.PidsLimit = *l.PidsLimit
	}
	return s
}

// LiveLimits are the limits a container has now, as its engine tells them
// (a nil or negative process limit is none: 0).
type LiveLimits struct {
	NanoCPUs, Memory, PidsLimit int64
}

// DriftLimits sets the "limits" of a drift from the limits a container
// has now rather than those its labels recorded when it was made: Update
// changes them live, and a container's labels cannot change.
func DriftLimits(drift []string, live LiveLimits, want Spec) []string {
	return setDrift(drift, "limits", live.NanoCPUs != want.NanoCPUs || live.Memory != want.Memory || max(live.PidsLimit, 0) != want.PidsLimit)
}

// setDrift is drift with name in it when differs, and without it when not.
func setDrift(drift []string, name string, differs bool) []string {
	has := slices.Contains(drift, name)
	switch {
	case differs && !has:
		return append(drift, name)
	case !differs && has:
		out := slices.DeleteFunc(slices.Clone(drift), func(s string) bool { return s == name })
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return drift
}
