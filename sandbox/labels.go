package sandbox

// Labels set on every container that sandbox creates. They are how a
// container is known as a workspace container (see [Manager.List]).
const (
	// LabelPrefix starts every label key of ours.
	LabelPrefix = "docker-workspace."
	// LabelSubdir holds the workspace subdir as given, before sanitising
	// (the container name alone cannot tell "a b" from "a-b").
	LabelSubdir = LabelPrefix + "subdir"
	// LabelMode holds the mount mode: "bind" or "volume_subpath".
	LabelMode = LabelPrefix + "mode"
	// LabelVersion holds the version of the program that created the
	// container.
	LabelVersion = LabelPrefix + "version"
	// LabelConfigHash holds the sha256 of everything that defines the
	// container (image ID, mounts, network, entrypoint, user, limits,
	// labels, env): ensure compares it to find drift.
	LabelConfigHash = LabelPrefix + "config-hash"
	// LabelConfig holds that definition as JSON (env values hashed), so
	// that drift can say what changed.
	LabelConfig = LabelPrefix + "config"
	// LabelComposeProject holds the Compose project that a container was
	// made for (docker compose up with a workspace provider service, or
	// ensure --compose-project).
	LabelComposeProject = LabelPrefix + "compose-project"
	// LabelHelper marks the short-lived helper containers that prepare a
	// volume; they are never started.
	LabelHelper = LabelPrefix + "helper"
)

// Labels that Docker Compose sets on the resources of a project.
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
	composeNumberLabel  = "com.docker.compose.container-number"
	composeOneoffLabel  = "com.docker.compose.oneoff"
	composeHashLabel    = "com.docker.compose.config-hash"
	composeVolumeLabel  = "com.docker.compose.volume"
	composeNetworkLabel = "com.docker.compose.network"
)
