package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Spec is everything that defines a workspace container. Its hash
// (LabelConfigHash) tells whether a container still matches the
// configuration; the spec itself (LabelConfig) tells what changed.
type Spec struct {
	Image      string      `json:"image"`
	ImageID    string      `json:"imageId,omitempty"`
	Entrypoint []string    `json:"entrypoint"`
	Mode       MountMode   `json:"mode"`
	Workspace  string      `json:"workspace"` // bind: host path; volume_subpath: volume
	Subpath    string      `json:"subpath,omitempty"`
	Shared     string      `json:"shared"` // bind: host path; volume_subpath: volume
	Network    string      `json:"network,omitempty"`
	Egress     egress.Mode `json:"egress,omitempty"`
	// The egress proxy's network out and DNS server (proxied modes).
	EgressNetwork string            `json:"egressNetwork,omitempty"`
	EgressDNS     string            `json:"egressDns,omitempty"`
	Allow         []string          `json:"allow,omitempty"` // the configured rules (proxied modes), sorted
	Project       string            `json:"composeProject,omitempty"`
	User          string            `json:"user,omitempty"`
	Init          bool              `json:"init,omitempty"`
	NanoCPUs      int64             `json:"nanoCpus,omitempty"`
	Memory        int64             `json:"memory,omitempty"`
	PidsLimit     int64             `json:"pidsLimit,omitempty"`
	ReadOnly      bool              `json:"readOnly,omitempty"`
	CapAdd        []string          `json:"capAdd,omitempty"`
	CapDrop       []string          `json:"capDrop,omitempty"`
	SecurityOpt   []string          `json:"securityOpt,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	// EnvKeys are the names of the configured variables, sorted. Their
	// values may be secrets, and labels are readable by whoever lists
	// containers or watches events: not even a hash of them is recorded
	// (a short secret's hash is undone by trying every value). Values are
	// compared with the container's own environment (DriftEnv).
	EnvKeys []string `json:"envKeys,omitempty"`
	// On an orchestrator of nodes, and volumes made with a driver
	// configuration.
	Placement        Placement         `json:"placement,omitempty"`
	VolumeDriver     string            `json:"volumeDriver,omitempty"`
	VolumeOpts       map[string]string `json:"volumeOpts,omitempty"`
	SharedVolumeOpts map[string]string `json:"sharedVolumeOpts,omitempty"`
}

// SleepForever is the entrypoint that keeps a workspace container alive.
var SleepForever = []string{"sleep", "infinity"}

// SpecFor is the spec of the container of subdir under cfg, with the image
// resolved to imageID. It has no side effects: bind paths are the configured
// ones, not resolved.
func SpecFor(subdir string, cfg Config, imageID string) Spec {
	s := Spec{
		Image: cfg.Image, ImageID: imageID, Entrypoint: SleepForever, Mode: cfg.Mode,
		Network: cfg.Network, Egress: cfg.EgressMode(), EgressNetwork: cfg.EgressNetwork, EgressDNS: cfg.EgressDNS, Project: cfg.ComposeProject, User: cfg.User, Init: cfg.Init,
		NanoCPUs: cfg.NanoCPUs, Memory: cfg.Memory, PidsLimit: cfg.PidsLimit, ReadOnly: cfg.ReadOnly,
		CapAdd: sorted(cfg.CapAdd), CapDrop: sorted(cfg.CapDrop), SecurityOpt: sorted(cfg.SecurityOpt),
		Labels:       cfg.Labels,
		VolumeDriver: cfg.VolumeDriver, VolumeOpts: nilIfEmpty(cfg.VolumeOptions), SharedVolumeOpts: nilIfEmpty(cfg.SharedVolumeOptions),
	}
	if s.Egress.Proxied() {
		s.Allow = cfg.ProxyPolicy().Allow
	}
	if cfg.Mode == ModeVolumeSubpath {
		s.Workspace, s.Subpath, s.Shared = cfg.WorkspaceVolume, subdir, cfg.SharedVolume
	} else {
		s.Workspace = filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
		s.Shared = filepath.Clean(cfg.SharedDir)
	}
	for _, e := range cfg.Env {
		k, _, _ := strings.Cut(e, "=")
		s.EnvKeys = append(s.EnvKeys, k)
	}
	s.EnvKeys = sorted(s.EnvKeys)
	if len(s.Labels) == 0 {
		s.Labels = nil
	}
	return s
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func sorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	sort.Strings(out)
	return out
}

// JSON is the spec as LabelConfig records it.
func (s Spec) JSON() string {
	b, _ := json.Marshal(s) // a struct of strings, numbers and maps: cannot fail
	return string(b)
}

// Hash is the spec's hash, as LabelConfigHash records it.
func (s Spec) Hash() string {
	sum := sha256.Sum256([]byte(s.JSON()))
	return hex.EncodeToString(sum[:])
}

// DriftNames are the names a drift is made of (see Drift).
var DriftNames = []string{"image", "mounts", "placement", "network", "egress", "compose-project", "entrypoint", "user", "init",
	"limits", "read-only", "capabilities", "security-opt", "labels", "env", DriftUnknown}

// DriftUnknown is the drift of a container that recorded no configuration
// (made by the original module, or by hand).
const DriftUnknown = "unknown"

// DriftImage is the drift of a container whose image reference names
// another image than the one it runs.
const DriftImage = "image"

// mountsDiffer tells whether two specs mount other things.
func mountsDiffer(have, want Spec) bool {
	return have.Mode != want.Mode || have.Workspace != want.Workspace || have.Subpath != want.Subpath || have.Shared != want.Shared ||
		have.VolumeDriver != want.VolumeDriver || !maps.Equal(have.VolumeOpts, want.VolumeOpts) || !maps.Equal(have.SharedVolumeOpts, want.SharedVolumeOpts)
}

// Drift names what differs between the spec a container recorded in its
// labels and the one wanted: "image", "mounts", "placement", "network", "egress",
// "compose-project", "entrypoint", "user", "init", "limits", "read-only",
// "capabilities", "security-opt", "labels", "env"; DriftUnknown when it
// recorded none. It is empty when they match.
func Drift(labels map[string]string, want Spec) []string {
	if labels[LabelConfigHash] == want.Hash() {
		return nil
	}
	var have Spec
	if err := json.Unmarshal([]byte(labels[LabelConfig]), &have); err != nil || labels[LabelConfig] == "" {
		return []string{DriftUnknown}
	}
	var out []string
	add := func(name string, differs bool) {
		if differs {
			out = append(out, name)
		}
	}
	add("image", have.Image != want.Image || have.ImageID != want.ImageID)
	add("mounts", mountsDiffer(have, want))
	add("placement", have.Placement != want.Placement)
	add("network", have.Network != want.Network)
	add("egress", have.Egress != want.Egress || have.EgressNetwork != want.EgressNetwork || have.EgressDNS != want.EgressDNS || !slices.Equal(have.Allow, want.Allow))
	add("compose-project", have.Project != want.Project)
	add("entrypoint", !slices.Equal(have.Entrypoint, want.Entrypoint))
	add("user", have.User != want.User)
	add("init", have.Init != want.Init)
	add("limits", have.NanoCPUs != want.NanoCPUs || have.Memory != want.Memory || have.PidsLimit != want.PidsLimit)
	add("read-only", have.ReadOnly != want.ReadOnly)
	add("capabilities", !slices.Equal(have.CapAdd, want.CapAdd) || !slices.Equal(have.CapDrop, want.CapDrop))
	add("security-opt", !slices.Equal(have.SecurityOpt, want.SecurityOpt))
	add("labels", !maps.Equal(have.Labels, want.Labels))
	add("env", !slices.Equal(have.EnvKeys, want.EnvKeys))
	if len(out) == 0 {
		// Same fields, other hash: a spec written by another version.
		out = []string{DriftUnknown}
	}
	return out
}

// DriftEnv adds "env" to a drift when the environment a container (or a
// service's task) has lacks a configured entry: a value changed. The
// labels record the names only.
func DriftEnv(drift, have, want []string) []string {
	if slices.Contains(drift, "env") {
		return drift
	}
	for _, e := range want {
		if !slices.Contains(have, e) {
			return append(drift, "env")
		}
	}
	return drift
}

// BindSources are the host directories a bind-mode container mounts now
// at WorkspaceTarget and SharedTarget (as its inspect shows them).
type BindSources struct{ Workspace, Shared string }

// DriftBind sets the "mounts" of a drift of a bind-mode container from the
// directories it mounts now rather than from the paths its labels recorded:
// want names the directories as they resolve now (a root named through a
// symlink is the directory the symlink names now, as a create would mount
// it). A root reached by another name is then no drift, and a symlink
// turned elsewhere is one.
func DriftBind(drift []string, labels map[string]string, live BindSources, want Spec) []string {
	have, ok := RecordedSpec(labels)
	if !ok || want.Mode != ModeBind || have.Mode != ModeBind || live.Workspace == "" || slices.Contains(drift, DriftUnknown) {
		return drift
	}
	have.Workspace, have.Shared = want.Workspace, want.Shared
	return setDrift(drift, "mounts", mountsDiffer(have, want) || live.Workspace != want.Workspace || live.Shared != want.Shared)
}

// RecordedSpec is the spec a workspace container (or service) recorded in
// its labels; ok is false when it recorded none (the original module's, or
// one of a version that did not).
func RecordedSpec(labels map[string]string) (s Spec, ok bool) {
	raw := labels[LabelConfig]
	return s, raw != "" && json.Unmarshal([]byte(raw), &s) == nil
}

// NetworkWarning says what a workspace shares its network with, when it
// does: one made on the operator's network (--network, a Compose
// project's), or one made before egress modes, on the engine's default
// network. Empty for a workspace alone on its network.
func NetworkWarning(labels map[string]string) string {
	s, ok := RecordedSpec(labels)
	switch {
	case !ok:
		return ""
	case s.Network != "" && (s.Egress == "" || s.Egress == egress.ModeOpen):
		return fmt.Sprintf("it is on network %s (the operator's): the containers on that network reach it, and it them", s.Network)
	case s.Egress == "" && s.Network == "":
		return "it is on the engine's default network, made before egress modes: the containers on it reach it, and it them; " +
			"ensure --recreate if-changed puts it on a network where no workspace reaches another"
	}
	return ""
}

// PrivilegedRefusal says why a command may not run with extended
// privileges in a workspace whose container recorded labels ("": it may):
// in a proxied egress mode they would let it go around its proxy (raw
// frames on its network), and in a container that drops every capability
// they would undo that.
func PrivilegedRefusal(labels map[string]string) string {
	s, ok := RecordedSpec(labels)
	switch {
	case !ok:
		return ""
	case s.Egress.Proxied():
		return fmt.Sprintf("the workspace is in egress mode %s: extended privileges would let the command go around its egress proxy", s.Egress)
	case slices.ContainsFunc(s.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") }):
		return "the workspace's container drops every capability (as the hardened profile does): extended privileges would undo that"
	}
	return ""
}
