package sandbox

import "strings"

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
	// LabelConfig holds that definition as JSON (env names only), so
	// that drift can say what changed.
	LabelConfig = LabelPrefix + "config"
	// LabelComposeProject holds the Compose project that a container was
	// made for (docker compose up with a workspace provider service, or
	// ensure --compose-project).
	LabelComposeProject = LabelPrefix + "compose-project"
	// LabelComposeService is the label Compose reads a container's
	// service from (set on a Compose workspace's container).
	LabelComposeService = "com.docker.compose.service"
	// LabelComposeMadeBy holds the Compose service whose provider made the
	// container (Config.ComposeService): only a container that its service
	// made runs that service (see ComposeServiceOf).
	LabelComposeMadeBy = LabelPrefix + "compose-service"
	// LabelHelper marks the short-lived helper containers that prepare a
	// volume; they are never started.
	LabelHelper = LabelPrefix + "helper"
	// LabelCreator holds the process that made a temporary container:
	// "<boot id>:<pid>:<start time>".
	LabelCreator = LabelPrefix + "creator"
	// LabelPlacement records the placement of a workspace on an
	// orchestrator of nodes.
	LabelPlacement = LabelPrefix + "placement"
	// LabelNodeEngine is the node label that names a node's own engine: a
	// Docker context name, or an endpoint (unix://, tcp://, ssh://). On an
	// orchestrator of nodes, workspace directories are made, and exec and
	// cp reach a workspace's container, through it.
	LabelNodeEngine = LabelPrefix + "engine"
	// LabelEgress marks what carries a workspace's egress: its egress proxy
	// container, the proxy's state volume and the workspace's own network
	// ("proxy", "state", "network"), or a network its backend shares
	// between workspaces ("open", "egress").
	LabelEgress = LabelPrefix + "egress"
	// LabelEgressOf holds the subdir of the workspace that a proxy, its
	// state volume or a network of its own belongs to.
	LabelEgressOf = LabelPrefix + "egress-of"
)

// ComposeServiceOf is the Compose service whose provider made the
// container of labels: "" when none did (made by ensure, with or without
// --compose-project, or by hand). A container made before
// LabelComposeMadeBy was set is its service's when Compose's service
// label names another service than the one `ensure --compose-project`
// gives (the container's name without "gws-").
func ComposeServiceOf(labels map[string]string) string {
	if s, ok := labels[LabelComposeMadeBy]; ok {
		return s
	}
	svc, subdir := labels[LabelComposeService], labels[LabelSubdir]
	if labels[LabelComposeProject] == "" || subdir == "" || svc == strings.TrimPrefix(ContainerName(subdir), NamePrefix) {
		return ""
	}
	return svc
}
