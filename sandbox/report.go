package sandbox

// Report is what an orchestrator's Check found out about it and a
// configuration (doctor).
type Report struct {
	// The engine the orchestrator talks to.
	EngineVersion string
	APIVersion    string // the API version in use (negotiated)
	OS            string
	// Modes says, for each mount mode, whether the engine can serve it:
	// "" if it can, else why not (nil: per node, see Nodes).
	Modes map[MountMode]string
	// Image is the configured image as the engine has it (nil: per node).
	Image *ImageCheck
	// Sources are the paths and volumes of the configuration, as the
	// engine sees them.
	Sources []SourceCheck
	// Plan is how the container of a workspace SUBDIR would be mounted,
	// as Ensure plans it (nil when it cannot be).
	Plan *MountPlan `json:",omitempty"`
	// Nodes are the nodes of an orchestrator of nodes, and Placement where
	// a workspace's data lives there.
	Nodes     []NodeReport `json:",omitempty"`
	Placement Placement    `json:",omitempty"`
	// VolumeDriver and the options are what missing volumes are made with.
	VolumeDriver        string            `json:",omitempty"`
	VolumeOptions       map[string]string `json:",omitempty"`
	SharedVolumeOptions map[string]string `json:",omitempty"`
	// Egress says what a workspace of the configuration reaches on the
	// network, and what it still reaches that it should perhaps not.
	Egress string `json:",omitempty"`
	// Disk says whether a disk cap (Config.Disk) can be enforced, and
	// WritableLayer whether a container's own writable layer can be capped.
	Disk          string `json:",omitempty"`
	WritableLayer string `json:",omitempty"`
	// Problems are what would make Ensure fail with this configuration.
	Problems []string
	// Warnings are what Ensure works with, but should not be so.
	Warnings []string
	// Leftovers counts the temporary containers of ours (gws_new_…,
	// gws_old_…, gws_helper_…) that a killed process left behind; the next
	// ensure that creates a container removes those of dead processes.
	Leftovers int
}

// ImageCheck tells whether the engine has the configured image.
type ImageCheck struct {
	Ref     string
	Present bool
	ID      string
}

// SourceCheck tells whether a bind path or a volume exists.
type SourceCheck struct {
	Kind   string // "workspace root", "shared directory", "workspace volume", "shared volume"
	Name   string
	Exists *bool  // nil: could not be told
	Note   string `json:",omitempty"`
}

// NodeReport is what Check tells of a node.
type NodeReport struct {
	Name, ID     string
	Role         string // manager or worker
	State        string // ready, down, ...
	Availability string // active, pause, drain
	Engine       string // its Engine version
	// Subpath: its Engine applies a volume subpath (only such nodes get
	// workspaces).
	Subpath bool
	// EngineLabel names its own engine; EngineError is why that engine
	// could not be reached through it ("" when it answered).
	EngineLabel string
	EngineError string `json:",omitempty"`
	// TakesWorkspaces: a new workspace may be placed on it now.
	TakesWorkspaces bool
}
