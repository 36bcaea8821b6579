package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/docker/docker/api/types/mount"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Defaults and fixed paths inside a workspace container.
const (
	DefaultImage    = "agent/workspace:latest"
	WorkspaceTarget = "/home/agent/workspace"
	SharedTarget    = "/home/agent/shared"
)

// WorkdirIn is the working directory of a command run in a workspace:
// a relative one is below WorkspaceTarget (where commands start), an
// absolute one as given, none WorkspaceTarget.
func WorkdirIn(dir string) string {
	if path.IsAbs(dir) {
		return path.Clean(dir)
	}
	return path.Join(WorkspaceTarget, dir)
}

// MountMode is how the workspace and the shared directory reach a container.
type MountMode string

const (
	// ModeBind bind-mounts <WorkspaceRoot>/<subdir> and SharedDir from the
	// engine's host.
	ModeBind MountMode = "bind"
	// ModeVolumeSubpath mounts the subdir <subdir> of WorkspaceVolume and the
	// whole SharedVolume. It needs an engine with API 1.45 or later.
	ModeVolumeSubpath MountMode = "volume_subpath"
)

// ParseMountMode accepts "bind" and "volume_subpath", in any case.
func ParseMountMode(s string) (MountMode, error) {
	return parseChoice("mount mode", s, ModeBind, ModeVolumeSubpath)
}

// parseChoice returns the choice that s names, in any case.
func parseChoice[T ~string](what, s string, choices ...T) (T, error) {
	for _, c := range choices {
		if strings.EqualFold(s, string(c)) {
			return c, nil
		}
	}
	quoted := make([]string, len(choices))
	for i, c := range choices {
		quoted[i] = strconv.Quote(string(c))
	}
	return "", fmt.Errorf("invalid %s %q: must be %s or %s", what, s,
		strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1])
}

// PullPolicy says when [Manager.Ensure] pulls the image.
type PullPolicy string

const (
	// PullMissing pulls the image when a container is created and the
	// engine does not have it.
	PullMissing PullPolicy = "missing"
	// PullAlways pulls the image on every Ensure.
	PullAlways PullPolicy = "always"
	// PullNever never pulls: a missing image is an error.
	PullNever PullPolicy = "never"
)

// ParsePullPolicy accepts "missing", "always" and "never".
func ParsePullPolicy(s string) (PullPolicy, error) {
	return parseChoice("pull policy", s, PullMissing, PullAlways, PullNever)
}

// RecreatePolicy says when [Manager.Ensure] replaces an existing container
// (the workspace data lives in its mounts and is kept).
type RecreatePolicy string

const (
	// RecreateNever keeps an existing container; drift is only reported.
	RecreateNever RecreatePolicy = "never"
	// RecreateIfChanged replaces a container that drifted from the
	// configuration, or that is dead.
	RecreateIfChanged RecreatePolicy = "if-changed"
	// RecreateAlways replaces the container on every Ensure.
	RecreateAlways RecreatePolicy = "always"
)

// ParseRecreatePolicy accepts "never", "if-changed" and "always".
func ParseRecreatePolicy(s string) (RecreatePolicy, error) {
	return parseChoice("recreate policy", s, RecreateNever, RecreateIfChanged, RecreateAlways)
}

// Config defines the container of a workspace.
type Config struct {
	// Image is the image reference of new containers.
	Image string
	// Network, when set, is the network new containers join.
	Network string
	// AllowUnisolatedNetwork lets Network be "host" or "container:NAME":
	// the network namespace of the host or of another container, whose
	// every service the workspace reaches (and they its own). Refused
	// without it (ErrUnisolatedNetwork).
	AllowUnisolatedNetwork bool
	// Mode is the mount mode.
	Mode MountMode
	// WorkspaceRoot (bind mode) is the absolute path, on the engine's host,
	// of the directory that holds one directory per workspace subdir.
	WorkspaceRoot string
	// SharedDir (bind mode) is the absolute path, on the engine's host, of
	// the shared directory.
	SharedDir string
	// CreateHostDirs (bind mode) says that the engine runs on this host:
	// missing directories are created here, as the calling user, and a
	// workspace path that resolves outside WorkspaceRoot is refused.
	// Otherwise the engine is asked to create them (API 1.42+).
	CreateHostDirs bool
	// WorkspaceVolume (volume_subpath mode) is the volume that holds one
	// directory per workspace subdir.
	WorkspaceVolume string
	// SharedVolume (volume_subpath mode) is the volume mounted as the shared
	// directory.
	SharedVolume string
	// Pull is the pull policy; empty means PullMissing.
	Pull PullPolicy
	// ComposeProject, when set, is the Compose project the container is made
	// for: it is labelled with it, and a container of another project is
	// not this workspace's. See [Manager.ResolveCompose] for the names.
	ComposeProject string
	// ComposeService is the Compose service of the container (with
	// ComposeProject); empty: the container's name without "gws-". The
	// container then carries Compose's own labels, so that Compose sees it
	// as the container of that service: ps, logs, exec, stop, down.
	ComposeService string
	// NetworkAliases are the container's aliases on Network (a user-defined
	// network): a Compose service's name, so that the project's other
	// services reach it by that name.
	NetworkAliases []string

	// Egress is how the workspace reaches the network (see package
	// egress); empty means egress.ModeOpen. Network, when set, is the
	// operator's choice instead (open mode only).
	Egress egress.Mode
	// Allow are the rules a new workspace's egress proxy starts with
	// (allowlist and public modes; egress.ParseRule reads them).
	Allow []string
	// EgressNetwork is the network the egress proxies reach outward
	// through; empty: one the backend makes, on which they cannot reach
	// each other.
	EgressNetwork string
	// EgressDNS is the address of the DNS server the egress proxies
	// resolve names with; empty: the engine's.
	EgressDNS string

	// Recreate is the recreate policy; empty means RecreateNever.
	Recreate RecreatePolicy

	// Init runs the engine's init (tini) as PID 1, to reap zombies and to
	// pass on the stop signal that `sleep infinity` as PID 1 would ignore.
	Init bool
	// User, when set, runs the container as this user ("name", "uid",
	// "uid:gid", "name:group"); directories created for it are its own.
	User string
	// NanoCPUs, Memory (bytes) and PidsLimit limit the container; zero
	// leaves the engine's default.
	NanoCPUs  int64
	Memory    int64
	PidsLimit int64
	// Disk caps what the workspace's own directory holds, in bytes; zero
	// is no cap. No orchestrator of this build can enforce one yet: Ensure
	// refuses a Disk (ErrNotSupported) with why, before anything is made
	// (see DiskQuota).
	Disk int64
	// ReadOnly mounts the root filesystem read-only, with a tmpfs at /tmp.
	ReadOnly bool
	// CapAdd and CapDrop add and drop kernel capabilities ("ALL" drops all).
	CapAdd  []string
	CapDrop []string
	// SecurityOpt are security options, as `docker run --security-opt`.
	SecurityOpt []string
	// Labels are extra labels; keys under LabelPrefix are reserved.
	Labels map[string]string
	// Env are KEY=VALUE environment variables of the container.
	Env []string

	// Placement says, on an orchestrator of several nodes, where a
	// workspace's data lives and so where it may run; empty means
	// PlacementPinned.
	Placement Placement
	// VolumeDriver and VolumeOptions, SharedVolumeOptions (volume_subpath
	// mode) make the workspace volume and the shared volume where they are
	// missing, as `docker volume create --driver --opt` does (on an
	// orchestrator of nodes, on every node a workspace runs on). Empty: the
	// engine's local volumes.
	VolumeDriver        string
	VolumeOptions       map[string]string
	SharedVolumeOptions map[string]string

	recordsOnly bool // see ForRecords
}

// ForRecords is c for what reads or writes only the records of its root or
// volume (Forget): in volume_subpath mode it needs no shared volume, and
// its plan mounts none.
func (c Config) ForRecords() Config {
	c.recordsOnly = true
	return c
}

// Placement says where the data of a workspace lives on an orchestrator of
// several nodes.
type Placement string

const (
	// PlacementPinned means node-local volumes; the workspace runs on the node
	// that first ran it, and waits for it when it is down.
	PlacementPinned Placement = "pinned"
	// PlacementShared means volumes whose driver options name the same storage
	// on every node; the orchestrator may move the workspace to another
	// node.
	PlacementShared Placement = "shared"
)

// ParsePlacement accepts "pinned" and "shared".
func ParsePlacement(s string) (Placement, error) {
	return parseChoice("placement", s, PlacementPinned, PlacementShared)
}

// VolumeDriverConfig is the driver configuration of a volume mount that
// makes the volume where it is missing, with opts (nil: the engine's local
// default).
func (c Config) VolumeDriverConfig(opts map[string]string) *mount.Driver {
	if c.VolumeDriver == "" && len(opts) == 0 {
		return nil
	}
	name := c.VolumeDriver
	if name == "" {
		name = "local"
	}
	return &mount.Driver{Name: name, Options: opts}
}

// Validate checks the configuration without asking the engine anything; its
// errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) validate() error {
	for _, check := range []func() error{c.checkChoices, c.checkContainer, c.checkCapabilities, c.checkPaths, c.checkVolumeConfig, c.checkMounts, c.checkEgress} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkChoices refuses a policy or placement of no known name.
func (c Config) checkChoices() error {
	if c.Pull != "" {
		if _, err := ParsePullPolicy(string(c.Pull)); err != nil {
			return err
		}
	}
	if c.Recreate != "" {
		if _, err := ParseRecreatePolicy(string(c.Recreate)); err != nil {
			return err
		}
	}
	if c.Placement != "" {
		if _, err := ParsePlacement(string(c.Placement)); err != nil {
			return err
		}
	}
	return nil
}

// checkContainer refuses what no container can be: no image, negative
// limits, a reserved label, an environment variable without a name.
func (c Config) checkContainer() error {
	if c.Image == "" {
		return errors.New("no image configured")
	}
	if c.NanoCPUs < 0 || c.Memory < 0 || c.PidsLimit < 0 || c.Disk < 0 {
		return errors.New("cpus, memory, pids and disk limits must not be negative")
	}
	if err := CheckLabels(c.Labels); err != nil {
		return err
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("environment variable %q: must be KEY=VALUE", e)
		}
		if strings.ContainsRune(e, 0) {
			return fmt.Errorf("environment variable %q: contains a NUL byte, which no process environment can hold", e)
		}
	}
	return nil
}

// CheckLabels refuses a label of a key that is ours, Compose's or
// Swarm's.
func CheckLabels(labels map[string]string) error {
	for k := range labels {
		if strings.HasPrefix(k, LabelPrefix) {
			return fmt.Errorf("label %q: keys starting with %q are reserved", k, LabelPrefix)
		}
		// Compose's and Swarm's own: a container with them would be taken
		// for another project's, or for a task's.
		for _, p := range [][2]string{{"com.docker.compose.", "Compose's"}, {"com.docker.swarm.", "Swarm's"}} {
			if strings.HasPrefix(k, p[0]) {
				return fmt.Errorf("label %q: keys starting with %q are %s", k, p[0], p[1])
			}
		}
	}
	return nil
}

// linuxCapabilities are the capabilities of Linux (6.x), as --cap-add and
// --cap-drop name them: another name is a typo the engine would only
// refuse when the container is made.
var linuxCapabilities = strings.Fields(`ALL CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
	LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO
	SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
	AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON
	BPF CHECKPOINT_RESTORE`)

// checkCapabilities refuses a capability Linux does not have.
func (c Config) checkCapabilities() error {
	return CheckCapabilities(append(append([]string{}, c.CapAdd...), c.CapDrop...))
}

// CheckCapabilities refuses a capability Linux does not have.
func CheckCapabilities(caps []string) error {
	for _, capability := range caps {
		name := strings.TrimPrefix(strings.ToUpper(capability), "CAP_")
		if !slices.Contains(linuxCapabilities, name) {
			return fmt.Errorf("capability %q: Linux has no such capability", capability)
		}
	}
	return nil
}

// checkPaths refuses host paths with a control character (a newline, a
// NUL): they would be shown, logged and compared as something else.
func (c Config) checkPaths() error {
	for _, p := range []struct{ what, path string }{{"workspace root", c.WorkspaceRoot}, {"shared directory", c.SharedDir}} {
		for _, r := range p.path {
			if unicode.IsControl(r) {
				return fmt.Errorf("%s %q: contains a control character", p.what, p.path)
			}
		}
	}
	return nil
}

// checkMounts refuses mounts of the mode that cannot be made, or would show
// one workspace to another.
func (c Config) checkMounts() error {
	if c.Mode != ModeVolumeSubpath && c.HasVolumeDriverConfig() {
		return errors.New("a volume driver and volume options are for volume_subpath mode")
	}
	switch c.Mode {
	case ModeBind:
		if !filepath.IsAbs(c.WorkspaceRoot) {
			return fmt.Errorf("bind mode needs an absolute workspace root, got %q", c.WorkspaceRoot)
		}
		if !filepath.IsAbs(c.SharedDir) {
			return fmt.Errorf("bind mode needs an absolute shared directory, got %q", c.SharedDir)
		}
		if PathsOverlap(filepath.Clean(c.SharedDir), filepath.Clean(c.WorkspaceRoot)) {
			return SharedOverlapError(c.SharedDir, c.SharedDir, c.WorkspaceRoot)
		}
	case ModeVolumeSubpath:
		if c.WorkspaceVolume == "" || (c.SharedVolume == "" && !c.recordsOnly) {
			return errors.New("volume_subpath mode needs both a workspace volume and a shared volume")
		}
		if c.WorkspaceVolume == c.SharedVolume {
			return fmt.Errorf("the shared volume %s is the workspace volume: every workspace container "+
				"would see every workspace under %s; use another volume (nothing was changed)", c.SharedVolume, SharedTarget)
		}
	default:
		_, err := ParseMountMode(string(c.Mode))
		return err
	}
	return nil
}

// PathsOverlap says whether one of two clean absolute paths is the other or
// below it.
func PathsOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") || a == "/" || b == "/"
}

// SharedOverlapError is the refusal of a shared directory (given, real
// path real) that is, holds or lies in the workspace root.
func SharedOverlapError(given, real, root string) error {
	if given != real {
		given += " (" + real + ")"
	}
	return fmt.Errorf("%w: the shared directory %s overlaps the workspace root %s: every workspace container would see the shared "+
		"directory, so the shared directory must be neither the root, nor in it, nor above it (nothing was changed)", ErrOverlap, given, root)
}

// EgressMode is the egress mode, ModeOpen when none is set.
func (c Config) EgressMode() egress.Mode {
	if c.Egress == "" {
		return egress.ModeOpen
	}
	return c.Egress
}

// ProxyPolicy is the policy the egress proxy of a workspace of c starts
// from: its mode and its configured rules, sorted.
func (c Config) ProxyPolicy() egress.Policy {
	return egress.Policy{Mode: c.EgressMode(), Allow: c.Allow}.Canonical()
}

// proxyEnv are the variables a proxied workspace's clients read to find
// its proxy: they are set by the backend, not by the configuration.
var proxyEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"}

// checkEgress refuses an egress configuration that would be weaker than
// it says: rules or a proxy's settings where there is no proxy, a network
// of the operator's where the workspace must be alone, the capabilities or
// proxy variables that would let a proxied workspace go around its proxy.
func (c Config) checkEgress() error {
	if c.Egress != "" {
		if _, err := egress.ParseMode(string(c.Egress)); err != nil {
			return err
		}
	}
	if _, err := egress.ParseRules(c.Allow); err != nil {
		return err
	}
	for _, n := range []string{c.Network, c.EgressNetwork} {
		if ReservedNetwork(n) {
			// new-user pass 11: a workspace put on another's egress network
			// reached it, and its proxy.
			return fmt.Errorf("network %s is one of docker workspace's own (a workspace's egress network, the proxies', or open mode's): "+
				"no workspace joins it by name (open mode, the default, puts a workspace on %s itself)", n, OpenNetwork)
		}
	}
	mode := c.EgressMode()
	if !mode.Proxied() {
		return c.checkUnproxied(mode)
	}
	if c.Network != "" {
		return fmt.Errorf("egress mode %s puts the workspace alone on a network of its own, with its proxy: a network may not be given", mode)
	}
	if c.EgressDNS != "" {
		if _, err := netip.ParseAddr(c.EgressDNS); err != nil {
			return fmt.Errorf("egress DNS server %q: must be an IP address", c.EgressDNS)
		}
	}
	return c.checkAroundProxy(mode)
}

// checkUnproxied refuses what is for a proxy in a mode without one.
func (c Config) checkUnproxied(mode egress.Mode) error {
	switch {
	case len(c.Allow) > 0:
		return fmt.Errorf("egress mode %s: %w", mode, egress.ErrNoRules)
	case c.EgressNetwork != "" || c.EgressDNS != "":
		return fmt.Errorf("egress mode %s has no egress proxy: an egress network or DNS server is for the allowlist and public modes", mode)
	case mode == egress.ModeNone && c.Network != "":
		return errors.New("egress mode none has no network: a network may not be given")
	case UnisolatedNetwork(c.Network) && !c.AllowUnisolatedNetwork:
		return fmt.Errorf("%w: network %s is the network namespace of %s: the workspace would reach every service listening there, "+
			"and they its own, in no egress mode", ErrUnisolatedNetwork, c.Network, unisolatedWhat(c.Network))
	}
	return nil
}

// OpenNetwork is the network of the workspaces of open mode, where none
// reaches another.
const OpenNetwork = "gws.open"

// ReservedNetwork says whether a network is one of those docker workspace
// makes for itself (gws.open, gws.egress, gws.net.<workspace>): none is
// for a workspace to join by name.
func ReservedNetwork(name string) bool { return strings.HasPrefix(name, "gws.") }

// UnisolatedNetwork says whether a network is the network namespace of
// the host or of another container (not isolated).
func UnisolatedNetwork(name string) bool {
	return name == "host" || strings.HasPrefix(name, "container:")
}

func unisolatedWhat(name string) string {
	if c, ok := strings.CutPrefix(name, "container:"); ok {
		return "container " + c
	}
	return "the engine's host"
}

// checkAroundProxy refuses the capabilities and proxy variables that
// would let a proxied workspace go around its proxy.
func (c Config) checkAroundProxy(mode egress.Mode) error {
	for _, capability := range c.CapAdd {
		switch strings.TrimPrefix(strings.ToUpper(capability), "CAP_") {
		case "ALL", "NET_RAW", "NET_ADMIN", "SYS_ADMIN":
			// SYS_ADMIN remounts /proc/sys writable: IPv6 back on, and the
			// host's link-local address on the workspace's network.
			return fmt.Errorf("egress mode %s: capability %s would let the workspace go around its proxy", mode, capability)
		}
	}
	for _, o := range c.SecurityOpt {
		if k, v, _ := strings.Cut(strings.ReplaceAll(o, ":", "="), "="); strings.EqualFold(k, "systempaths") && strings.EqualFold(v, "unconfined") {
			return fmt.Errorf("egress mode %s: security option %s (a writable /proc/sys) would let the workspace go around its proxy", mode, o)
		}
	}
	for _, e := range c.Env {
		k, _, _ := strings.Cut(e, "=")
		for _, p := range proxyEnv {
			if strings.EqualFold(k, p) {
				return fmt.Errorf("egress mode %s: %s is set to the workspace's proxy, not by the configuration", mode, k)
			}
		}
	}
	return nil
}

// DescribeEgress says what a workspace of the configuration reaches on
// the network (for doctor): mode by mode, what each still reaches.
func (c Config) DescribeEgress() string {
	mode := c.EgressMode()
	switch {
	case mode == egress.ModeNone:
		return "none: no network (loopback only)"
	case mode == egress.ModeAllowlist:
		return "allowlist: only what its rules name, through its egress proxy; not the host, the LAN, a metadata address or another workspace"
	case mode == egress.ModePublic:
		return "public: public addresses over HTTP(S), and what its rules name, through its egress proxy; not the host, the LAN, " +
			"a metadata address or another workspace"
	case c.Network != "":
		return fmt.Sprintf("open, on network %s (the operator's): workspaces on one shared network reach each other, and "+
			"it reaches what that network reaches", c.Network)
	}
	return "open: the internet by any protocol, no other workspace; it still reaches the services of the engine's host " +
		"on its network's gateway, and the LAN (egress public or allowlist close them)"
}
