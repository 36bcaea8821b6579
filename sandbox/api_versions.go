package sandbox

// Engine API versions that change what sandbox may ask of an engine.
const (
	// APIVersionSubpath is the first API version whose engines honour
	// Mount.VolumeOptions.Subpath. Older engines (20.10 is API 1.41) accept
	// the field and silently mount the whole volume, which would show every
	// workspace to every workspace container: volume_subpath is refused there.
	APIVersionSubpath = "1.45"
	// APIVersionCreateMountpoint is the first API version whose engines
	// create a missing bind source when BindOptions.CreateMountpoint is set.
	APIVersionCreateMountpoint = "1.42"
)
