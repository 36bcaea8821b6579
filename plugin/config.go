package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/opts"
	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// A setting is one configuration value. Its value comes from, first to last:
// the flag, the environment variable, the key of the same name as the flag in
// the "plugins" → "workspace" section of the docker CLI's config.json, the
// profile (--profile), the default.
type setting struct {
	flag string
	env  string
}

var (
	settingImage           = setting{"image", "GATEWAY_WORKSPACE_IMAGE"}
	settingNetwork         = setting{"network", "GATEWAY_WORKSPACE_DOCKER_NETWORK"}
	settingMountMode       = setting{"mount-mode", "GATEWAY_WORKSPACE_MOUNT_MODE"}
	settingWorkspaceRoot   = setting{"workspace-root", "GATEWAY_WORKSPACE_ROOT"}
	settingSharedDir       = setting{"shared-dir", "GATEWAY_SHARED_DIR"}
	settingWorkspaceVolume = setting{"workspace-volume", "GATEWAY_WORKSPACE_DOCKER_VOLUME"}
	settingSharedVolume    = setting{"shared-volume", "GATEWAY_SHARED_DOCKER_VOLUME"}
	settingPull            = setting{"pull", "GATEWAY_WORKSPACE_PULL"}
	settingRecreate        = setting{"recreate", "GATEWAY_WORKSPACE_RECREATE"}
	settingProfile         = setting{"profile", "GATEWAY_WORKSPACE_PROFILE"}
	settingInit            = setting{"init", "GATEWAY_WORKSPACE_INIT"}
	settingUser            = setting{"user", "GATEWAY_WORKSPACE_USER"}
	settingCPUs            = setting{"cpus", "GATEWAY_WORKSPACE_CPUS"}
	settingMemory          = setting{"memory", "GATEWAY_WORKSPACE_MEMORY"}
	settingPidsLimit       = setting{"pids-limit", "GATEWAY_WORKSPACE_PIDS_LIMIT"}
	settingDisk            = setting{"disk", "GATEWAY_WORKSPACE_DISK"}
	settingReadOnly        = setting{"read-only", "GATEWAY_WORKSPACE_READ_ONLY"}
	settingCapAdd          = setting{"cap-add", "GATEWAY_WORKSPACE_CAP_ADD"}
	settingCapDrop         = setting{"cap-drop", "GATEWAY_WORKSPACE_CAP_DROP"}
	settingSecurityOpt     = setting{"security-opt", "GATEWAY_WORKSPACE_SECURITY_OPT"}
	settingLabel           = setting{"label", "GATEWAY_WORKSPACE_LABELS"}
	settingEnv             = setting{"env", "GATEWAY_WORKSPACE_ENV"}
	settingEnabled         = setting{"enabled", "GATEWAY_WORKSPACE_DOCKER_ENABLED"}
	settingAPITimeout      = setting{"api-timeout", "GATEWAY_WORKSPACE_API_TIMEOUT"}
	settingOrchestrator    = setting{"orchestrator", "GATEWAY_WORKSPACE_ORCHESTRATOR"}
	settingPlacement       = setting{"placement", "GATEWAY_WORKSPACE_PLACEMENT"}
	settingVolumeDriver    = setting{"volume-driver", "GATEWAY_WORKSPACE_VOLUME_DRIVER"}
	settingVolumeOpt       = setting{"volume-opt", "GATEWAY_WORKSPACE_VOLUME_OPTS"}
	settingSharedVolumeOpt = setting{"shared-volume-opt", "GATEWAY_SHARED_VOLUME_OPTS"}
	settingEgress          = setting{"egress", "GATEWAY_WORKSPACE_EGRESS"}
	settingAllow           = setting{"allow", "GATEWAY_WORKSPACE_ALLOW"}
	settingEgressNetwork   = setting{"egress-network", "GATEWAY_WORKSPACE_EGRESS_NETWORK"}
	settingEgressDNS       = setting{"egress-dns", "GATEWAY_WORKSPACE_EGRESS_DNS"}
	settingUnisolated      = setting{"allow-unisolated-network", "GATEWAY_WORKSPACE_ALLOW_UNISOLATED_NETWORK"}
)

// globalSettings are read by every command, from flags of the root command.
var globalSettings = []setting{settingAPITimeout, settingOrchestrator}

// configSettings are the settings that define a workspace container, in the
// order of `ensure --help`; their flags carry configAnnotation.
var configSettings = []setting{
	settingImage, settingNetwork, settingUnisolated, settingEgress, settingAllow, settingEgressNetwork, settingEgressDNS, settingMountMode, settingWorkspaceRoot, settingSharedDir, settingWorkspaceVolume,
	settingSharedVolume, settingVolumeDriver, settingVolumeOpt, settingSharedVolumeOpt, settingPlacement,
	settingPull, settingRecreate, settingProfile, settingInit, settingUser, settingCPUs,
	settingMemory, settingPidsLimit, settingDisk, settingReadOnly, settingCapAdd, settingCapDrop, settingSecurityOpt,
	settingLabel, settingEnv,
}

// configAnnotation marks the flags of configSettings.
const configAnnotation = "docker-workspace/config"

// configFlagsChanged says whether any configuration flag was given.
func configFlagsChanged(flags *pflag.FlagSet) bool {
	changed := false
	flags.Visit(func(f *pflag.Flag) {
		_, ok := f.Annotations[configAnnotation]
		changed = changed || ok
	})
	return changed
}

// knownKeys are the keys of the plugins.workspace section of config.json.
func knownKeys() map[string]bool {
	keys := map[string]bool{settingEnabled.flag: true}
	for _, s := range globalSettings {
		keys[s.flag] = true
	}
	for _, s := range configSettings {
		keys[s.flag] = true
	}
	return keys
}

// warnUnknownKeys warns, once per command, about a key of the
// plugins.workspace section of config.json that nothing reads (a typo).
func warnUnknownKeys(dockerCLI command.Cli) {
	cf := dockerCLI.ConfigFile()
	if cf == nil {
		return
	}
	known := knownKeys()
	var unknown []string
	for k := range cf.Plugins[Name] {
		if !known[k] {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: %s: unknown key %s in the plugins.%s section (see docker workspace ensure --help)\n",
			cf.Filename, strings.Join(unknown, ", "), Name)
	}
}

// checkConfigTypes refuses a config.json whose plugins section holds a
// value that is not a string (a JSON boolean or number): the docker CLI
// reads that section as strings only and, failing, ignores the whole file
// (its current context and credentials too), so a hardening key such as
// read-only would be dropped without a word.
func checkConfigTypes(dockerCLI command.Cli) error {
	cf := dockerCLI.ConfigFile()
	if cf == nil || cf.Filename == "" {
		return nil
	}
	b, err := os.ReadFile(cf.Filename)
	if err != nil {
		return nil //nolint:nilerr // no file: nothing was dropped
	}
	var raw struct {
		Plugins map[string]map[string]json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		// The docker CLI warns and goes on without the file: every key of
		// the plugins.workspace section (a root, a hardening key) would be
		// dropped.
		return usageError(fmt.Errorf("%s: not valid JSON (%w): the docker CLI ignores the whole file, so its plugins.%s settings "+
			"would be dropped; fix it", cf.Filename, err, Name))
	}
	for _, plugin := range slices.Sorted(maps.Keys(raw.Plugins)) {
		for _, k := range slices.Sorted(maps.Keys(raw.Plugins[plugin])) {
			v := raw.Plugins[plugin][k]
			if len(v) > 0 && v[0] != '"' {
				return usageError(fmt.Errorf("%s: %q in the plugins.%s section is %s, not a string: the docker CLI reads that section as "+
					"strings only, and ignores the whole file otherwise (its context too); write it as %q", cf.Filename, k, plugin, v, strings.Trim(string(v), `"`)))
			}
		}
	}
	return nil
}

// environmentHelp is the "Environment variables" section of ensure --help.
func environmentHelp() string {
	var b strings.Builder
	b.WriteString("Environment variables (a flag wins over its variable, a variable over the same key,\n" +
		"named as the flag, in the plugins.workspace section of config.json):\n")
	for _, s := range append(append(configSettings, globalSettings...), settingEnabled) {
		flag := "--" + s.flag
		if s == settingEnabled {
			flag = "(no flag) false makes ensure and stop do nothing"
		}
		fmt.Fprintf(&b, "  %-34s %s\n", s.env, flag)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// profiles change the defaults of settings; any other source wins over them.
var profiles = map[string]map[setting]string{
	// A process limit by default: a fork bomb in one workspace must not
	// stop the others (or the host) from running anything.
	"default": {settingPidsLimit: strconv.Itoa(sandbox.DefaultPidsLimit)},
	"hardened": {
		settingCapDrop:     "ALL",
		settingSecurityOpt: "no-new-privileges",
		settingPidsLimit:   "512",
		settingReadOnly:    "true",
		settingInit:        "true",
	},
}

// profileNames are the profiles, sorted.
func profileNames() []string {
	return slices.Sorted(maps.Keys(profiles))
}

// resolver resolves settings for one command run.
type resolver struct {
	dockerCLI   command.Cli
	flags       *pflag.FlagSet
	profile     map[setting]string
	recordsOnly bool // the configuration of rm --forget (sandbox.Config.ForRecords)
}

func newResolver(dockerCLI command.Cli, flags *pflag.FlagSet) (*resolver, error) {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	name, _ := r.lookup(settingProfile)
	if name == "" {
		name = "default"
	}
	p, ok := profiles[name]
	if !ok {
		return nil, usageError(fmt.Errorf(`%s: invalid profile %q: must be "default" or "hardened"`, r.source(settingProfile), name))
	}
	r.profile = p
	return r, nil
}

// lookup returns the value of s and whether it came from the flag.
// flag is the flag of s in this command, if it has one: a flag of the same
// name that means something else (exec's --user, --env) is not it.
func (r *resolver) flag(s setting) *pflag.Flag {
	f := r.flags.Lookup(s.flag)
	if f == nil {
		return nil
	}
	if _, ok := f.Annotations[configAnnotation]; !ok && !slices.Contains(globalSettings, s) {
		return nil
	}
	return f
}

func (r *resolver) lookup(s setting) (value string, fromFlag bool) {
	f := r.flag(s)
	if f != nil && f.Changed {
		return f.Value.String(), true
	}
	if v := os.Getenv(s.env); v != "" {
		return v, false
	}
	if cf := r.dockerCLI.ConfigFile(); cf != nil {
		if v := cf.Plugins[Name][s.flag]; v != "" {
			return v, false
		}
	}
	if v, ok := r.profile[s]; ok {
		return v, false
	}
	if f != nil {
		return f.DefValue, false
	}
	return "", false
}

// explicit says whether s was given (flag, environment or config.json),
// rather than taken from a profile or a default.
func (r *resolver) explicit(s setting) bool {
	if f := r.flag(s); f != nil && f.Changed {
		return true
	}
	if os.Getenv(s.env) != "" {
		return true
	}
	cf := r.dockerCLI.ConfigFile()
	return cf != nil && cf.Plugins[Name][s.flag] != ""
}

// source names where the value of s comes from, for an error message.
func (r *resolver) source(s setting) string {
	if f := r.flag(s); f != nil && f.Changed {
		if r.flags.Lookup(optSubdir) != nil {
			// The Compose provider: its flags are the service's options.
			return fmt.Sprintf("option %q of the service", s.flag)
		}
		return "--" + s.flag
	}
	if os.Getenv(s.env) != "" {
		return s.env
	}
	if cf := r.dockerCLI.ConfigFile(); cf != nil && cf.Plugins[Name][s.flag] != "" {
		return fmt.Sprintf("%q in the plugins.%s section of %s", s.flag, Name, cf.Filename)
	}
	if _, ok := r.profile[s]; ok {
		return "--" + s.flag + " of the profile"
	}
	return "--" + s.flag
}

func (r *resolver) str(s setting) string {
	v, _ := r.lookup(s)
	return v
}

// list resolves a list setting: a repeatable flag, or, from the environment
// and config.json, comma-separated values or a JSON array of strings.
func (r *resolver) list(s setting) ([]string, error) {
	v, fromFlag := r.lookup(s)
	if fromFlag {
		return r.flags.GetStringArray(s.flag)
	}
	v = strings.TrimSpace(v)
	if v == "" || v == "[]" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, usageError(fmt.Errorf("%s: invalid value %q: not a JSON array of strings: %w", r.source(s), v, err))
		}
		return out, nil
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

func (r *resolver) bool(s setting) (bool, error) {
	v := r.str(s)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "y", "t":
		return true, nil
	case "0", "false", "no", "off", "n", "f", "":
		return false, nil
	}
	return false, usageError(fmt.Errorf("%s: invalid value %q: must be a boolean (true/false, 1/0, yes/no, on/off)", r.source(s), v))
}

// dataHome is where the default bind directories live.
func dataHome() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "docker-workspace")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "docker-workspace")
	}
	return filepath.Join(home, ".local", "share", "docker-workspace")
}

// addConfigFlags declares the flags that define a workspace container; a
// command whose own flags take some of their names (exec's --user, --env)
// leaves those out.
// typedString is a string flag whose help names the kind of value it
// takes (docker's "duration", "bytes", "decimal"); the resolver parses it,
// naming where a bad value came from.
type typedString struct {
	value, typ string
}

func newTypedString(def, typ string) *typedString { return &typedString{value: def, typ: typ} }

func (t *typedString) String() string     { return t.value }
func (t *typedString) Set(v string) error { t.value = v; return nil }
func (t *typedString) Type() string       { return t.typ }

// configFlagsNote is what a command whose configuration flags are hidden
// says of them in its help.
const configFlagsNote = "It takes ensure's configuration flags too (--image, --mount-mode, --profile, ...: see\n" +
	"docker workspace ensure --help); they are not listed here."

// hideConfigFlags keeps a command's help to its own flags: the
// configuration flags it takes are ensure's, listed there.
func hideConfigFlags(flags *pflag.FlagSet) {
	flags.VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[configAnnotation]; ok {
			f.Hidden = true
		}
	})
}

func addConfigFlags(dst *pflag.FlagSet, except ...setting) {
	flags := pflag.NewFlagSet("config", pflag.ContinueOnError)
	defer flags.VisitAll(func(f *pflag.Flag) {
		for _, s := range except {
			if f.Name == s.flag {
				return
			}
		}
		_ = flags.SetAnnotation(f.Name, configAnnotation, []string{f.Name})
		dst.AddFlag(f)
	})
	flags.String(settingImage.flag, sandbox.DefaultImage, "Image of new workspace containers")
	flags.String(settingNetwork.flag, "", "Network that new workspace containers join, instead of one where they cannot reach each other (open mode)")
	flags.Bool(settingUnisolated.flag, false, `Allow --network host or container:NAME (the host's or another container's network namespace: not isolated)`)
	flags.String(settingEgress.flag, string(egress.ModeOpen),
		`What a workspace reaches: "open" (the internet, no other workspace), "none" (no network), "allowlist" (only what --allow names, `+
			`through its egress proxy), "public" (every public address over HTTP(S), and what --allow names; never the host, the LAN or another workspace)`)
	flags.StringArray(settingAllow.flag, nil, "Allowlist and public modes: a destination a new workspace's proxy allows: HOST[:PORT], *.DOMAIN[:PORT] or CIDR[:PORT] (ports 443 and 80 when none)")
	flags.String(settingEgressNetwork.flag, "", "Allowlist and public modes: network the egress proxies reach out through (default: one the tool makes, on which they cannot reach each other)")
	flags.String(settingEgressDNS.flag, "", "Allowlist and public modes: address of the DNS server the egress proxies resolve names with (default: the engine's)")
	flags.String(settingMountMode.flag, string(sandbox.ModeBind), `Mount mode: "bind" (host directories) or "volume_subpath" (named volumes)`)
	flags.String(settingWorkspaceRoot.flag, filepath.Join(dataHome(), "workspaces"), "Bind mode: host directory that holds one directory per workspace")
	flags.String(settingSharedDir.flag, filepath.Join(dataHome(), "shared"), "Bind mode: host directory mounted at /home/agent/shared")
	flags.String(settingWorkspaceVolume.flag, "", "Volume subpath mode: volume that holds one directory per workspace")
	flags.String(settingSharedVolume.flag, "", "Volume subpath mode: volume mounted at /home/agent/shared")
	flags.String(settingVolumeDriver.flag, "", `Volume subpath mode: driver that makes a missing workspace or shared volume (default "local")`)
	flags.StringArray(settingVolumeOpt.flag, nil, "Volume subpath mode: driver option of the workspace volume where it is made (KEY=VALUE, as docker volume create --opt)")
	flags.StringArray(settingSharedVolumeOpt.flag, nil, "Volume subpath mode: driver option of the shared volume where it is made (KEY=VALUE)")
	flags.String(settingPlacement.flag, string(sandbox.PlacementPinned), placementUsage)
	flags.String(settingPull.flag, string(sandbox.PullMissing), `Pull the image before creating a container ("missing", "always", "never")`)
	flags.String(settingRecreate.flag, string(sandbox.RecreateNever),
		`Replace an existing container ("never", "if-changed": when it drifted from the configuration or is dead, "always"); workspace data is kept`)
	flags.String(settingProfile.flag, "default",
		`Defaults for hardening: "default", or "hardened" (--cap-drop ALL, --security-opt no-new-privileges, --pids-limit 512, --read-only, --init); other flags override it`)
	flags.Bool(settingInit.flag, true, "Run an init (tini) as PID 1 of new containers, to reap zombies and forward signals")
	flags.StringP(settingUser.flag, "u", "", `User of new containers ("name", "uid", "uid:gid"); new workspace directories are given to it`)
	flags.Var(newTypedString("", "decimal"), settingCPUs.flag, "Number of CPUs of new containers (e.g. 1.5)")
	flags.VarP(newTypedString("", "bytes"), settingMemory.flag, "m", "Memory limit of new containers (e.g. 512m, 2g)")
	flags.Int64(settingPidsLimit.flag, 0, "Process limit of new containers (default 4096; 512 under --profile hardened; 0 or -1: none)")
	flags.Var(newTypedString("", "bytes"), settingDisk.flag, "Cap on what a workspace's directory holds (e.g. 10g); refused where the file system cannot enforce it (see doctor)")
	flags.Bool(settingReadOnly.flag, false, "Mount the root filesystem of new containers read-only (with a tmpfs at /tmp)")
	flags.StringArray(settingCapAdd.flag, nil, "Add a Linux capability")
	flags.StringArray(settingCapDrop.flag, nil, `Drop a Linux capability ("ALL" drops all)`)
	flags.StringArray(settingSecurityOpt.flag, nil, "Security option (e.g. no-new-privileges, seccomp=PROFILE)")
	flags.StringArrayP(settingLabel.flag, "l", nil, "Set a label on new containers (KEY=VALUE)")
	flags.StringArrayP(settingEnv.flag, "e", nil, "Set an environment variable of new containers (KEY=VALUE, or KEY: this environment's value, as docker run -e)")
}

// workspaceConfig resolves the configuration of the workspace containers
// and checks it, without asking the engine anything. A bad value is a usage
// error naming where it came from (flag, variable or config.json key).
func workspaceConfig(dockerCLI command.Cli, flags *pflag.FlagSet) (sandbox.Config, error) {
	return resolveConfig(dockerCLI, flags, false)
}

// recordsConfig is the configuration of what touches only the records of
// a root or volume (rm --forget): no shared volume needed.
func recordsConfig(dockerCLI command.Cli, flags *pflag.FlagSet) (sandbox.Config, error) {
	return resolveConfig(dockerCLI, flags, true)
}

func resolveConfig(dockerCLI command.Cli, flags *pflag.FlagSet, recordsOnly bool) (sandbox.Config, error) {
	r, err := newResolver(dockerCLI, flags)
	if err != nil {
		return sandbox.Config{}, err
	}
	r.recordsOnly = recordsOnly
	cfg, err := r.config()
	if errors.Is(err, sandbox.ErrUnisolatedNetwork) {
		err = fmt.Errorf("%w (--%s allows it)", err, settingUnisolated.flag)
	}
	return cfg, usageError(err)
}

func (r *resolver) config() (sandbox.Config, error) {
	cfg := sandbox.Config{
		Image:           r.str(settingImage),
		Network:         r.str(settingNetwork),
		WorkspaceVolume: r.str(settingWorkspaceVolume),
		SharedVolume:    r.str(settingSharedVolume),
		User:            r.str(settingUser),
		VolumeDriver:    r.str(settingVolumeDriver),
		CreateHostDirs:  localEngine(r.dockerCLI),
	}
	for _, step := range []func(*sandbox.Config) error{r.choices, r.otherMode, r.limits, r.lists, r.volumeOptions, r.labels, r.mounts, r.egress} {
		if err := step(&cfg); err != nil {
			return cfg, err
		}
	}
	if r.recordsOnly {
		cfg = cfg.ForRecords()
	}
	return cfg, cfg.Validate()
}

// otherMode refuses a flag (or a Compose option) of the other mount mode:
// a misspelt mount-mode would otherwise make a bind workspace, silently,
// where volumes were meant. (The environment and config.json may hold
// both modes' settings, as the original module's did.)
func (r *resolver) otherMode(cfg *sandbox.Config) error {
	other := map[sandbox.MountMode][]setting{
		sandbox.ModeBind:          {settingWorkspaceVolume, settingSharedVolume, settingVolumeDriver, settingVolumeOpt, settingSharedVolumeOpt},
		sandbox.ModeVolumeSubpath: {settingWorkspaceRoot, settingSharedDir},
	}[cfg.Mode]
	for _, s := range other {
		if f := r.flag(s); f != nil && f.Changed {
			want := sandbox.ModeVolumeSubpath
			if cfg.Mode == sandbox.ModeVolumeSubpath {
				want = sandbox.ModeBind
			}
			by := "set by " + r.source(settingMountMode)
			if _, inProfile := r.profile[settingMountMode]; !r.explicit(settingMountMode) && !inProfile {
				by = "the default" // new-user pass 12: it named a flag not given
			}
			return r.bad(s, fmt.Errorf("a setting of %s mode, and the mount mode is %s (%s; did you mean --mount-mode %s?)", want, cfg.Mode, by, want))
		}
	}
	return nil
}

// bad names where a bad value came from.
func (r *resolver) bad(s setting, err error) error { return fmt.Errorf("%s: %w", r.source(s), err) }

// choices resolves the settings that take one of a few words.
func (r *resolver) choices(cfg *sandbox.Config) (err error) {
	if cfg.Mode, err = sandbox.ParseMountMode(r.str(settingMountMode)); err != nil {
		return r.bad(settingMountMode, err)
	}
	if cfg.Pull, err = sandbox.ParsePullPolicy(r.str(settingPull)); err != nil {
		return r.bad(settingPull, err)
	}
	if cfg.Recreate, err = sandbox.ParseRecreatePolicy(r.str(settingRecreate)); err != nil {
		return r.bad(settingRecreate, err)
	}
	if v := r.str(settingPlacement); v != "" {
		if cfg.Placement, err = sandbox.ParsePlacement(v); err != nil {
			return r.bad(settingPlacement, err)
		}
	}
	if cfg.Init, err = r.bool(settingInit); err != nil {
		return err
	}
	if cfg.AllowUnisolatedNetwork, err = r.bool(settingUnisolated); err != nil {
		return err
	}
	cfg.ReadOnly, err = r.bool(settingReadOnly)
	return err
}

// limits resolves the limits: CPUs, memory, processes.
func (r *resolver) limits(cfg *sandbox.Config) (err error) {
	if v := r.str(settingCPUs); v != "" {
		if cfg.NanoCPUs, err = parseCPUs(v); err == nil && cfg.NanoCPUs < 0 {
			err = errors.New("must not be negative")
		}
		if err != nil {
			return r.bad(settingCPUs, fmt.Errorf("invalid number of CPUs %q: %w", v, err))
		}
	}
	if v := r.str(settingMemory); v != "" {
		if cfg.Memory, err = parseMemory(v); err != nil {
			return r.bad(settingMemory, err)
		}
	}
	if v := r.str(settingPidsLimit); v != "" {
		if cfg.PidsLimit, err = strconv.ParseInt(v, 10, 64); err != nil || cfg.PidsLimit < -1 {
			return r.bad(settingPidsLimit, fmt.Errorf("invalid process limit %q: must be a number, 0 or more (0 or -1: none)", v))
		}
		cfg.PidsLimit = max(cfg.PidsLimit, 0) // -1: docker's "unlimited"
	}
	if v := r.str(settingDisk); v != "" {
		if cfg.Disk, err = parseDisk(v); err != nil {
			return r.bad(settingDisk, err)
		}
	}
	return nil
}

// parseMemory reads a memory limit: 0 (none), or 6MiB or more.
func parseMemory(v string) (int64, error) {
	n, err := units.RAMInBytes(v)
	switch {
	case err != nil:
	case n < 0:
		err = errors.New("out of range") // wrapped by the parser
	case n > 0 && n < sandbox.MinMemory:
		err = errors.New("must be at least 6MiB, as an engine takes it")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid memory limit %q: %w", v, err)
	}
	return n, nil
}

// parseDisk reads a disk cap: a size of more than 0 bytes.
func parseDisk(v string) (int64, error) {
	n, err := units.RAMInBytes(v)
	if err == nil && n <= 0 {
		err = errors.New("must be more than 0")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid disk cap %q: %w", v, err)
	}
	return n, nil
}

// parseCPUs is opts.ParseCPUs that refuses a number out of range (which
// it would wrap into another, or into no limit at all).
func parseCPUs(v string) (int64, error) {
	n, err := opts.ParseCPUs(v)
	if err != nil {
		return 0, err
	}
	if r, ok := new(big.Rat).SetString(v); ok && !r.Mul(r, big.NewRat(1e9, 1)).Num().IsInt64() {
		return 0, errors.New("out of range")
	}
	if n > 0 && n < 1e7 {
		return 0, errors.New("must be at least 0.01, as an engine takes it")
	}
	return n, nil
}

// lists resolves the list settings: capabilities, security options, env.
func (r *resolver) lists(cfg *sandbox.Config) (err error) {
	for _, l := range []struct {
		s   setting
		dst *[]string
	}{{settingCapAdd, &cfg.CapAdd}, {settingCapDrop, &cfg.CapDrop}, {settingSecurityOpt, &cfg.SecurityOpt}, {settingEnv, &cfg.Env}} {
		if *l.dst, err = r.list(l.s); err != nil {
			return err
		}
	}
	env := cfg.Env[:0]
	for _, e := range cfg.Env {
		k, _, ok := strings.Cut(e, "=")
		switch {
		case k == "":
			return r.bad(settingEnv, fmt.Errorf("invalid environment variable %q: must be KEY=VALUE, or KEY", e))
		case !ok: // as docker run -e KEY: this environment's value, or none
			if v, set := os.LookupEnv(k); set {
				env = append(env, k+"="+v)
			}
			continue
		}
		env = append(env, e)
	}
	cfg.Env = env
	if err := r.checked(settingCapAdd, sandbox.CheckCapabilities(cfg.CapAdd)); err != nil {
		return err
	}
	return r.checked(settingCapDrop, sandbox.CheckCapabilities(cfg.CapDrop))
}

// keyValues resolves a list setting of KEY=VALUE pairs (keyless is
// refused; without "=", the value is empty when valueless is set).
func (r *resolver) keyValues(s setting, what string, valueless bool) (map[string]string, error) {
	vals, err := r.list(s)
	if err != nil || len(vals) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" || !ok && !valueless {
			return nil, r.bad(s, fmt.Errorf("invalid %s %q: must be KEY=VALUE", what, kv))
		}
		out[k] = v
	}
	return out, nil
}

// volumeOptions resolves the driver options of the volumes.
func (r *resolver) volumeOptions(cfg *sandbox.Config) (err error) {
	if cfg.VolumeOptions, err = r.keyValues(settingVolumeOpt, "volume option", false); err != nil {
		return err
	}
	cfg.SharedVolumeOptions, err = r.keyValues(settingSharedVolumeOpt, "volume option", false)
	return err
}

// labels resolves the labels of new containers.
func (r *resolver) labels(cfg *sandbox.Config) (err error) {
	if cfg.Labels, err = r.keyValues(settingLabel, "label", true); err != nil {
		return err
	}
	return r.checked(settingLabel, sandbox.CheckLabels(cfg.Labels))
}

// checked names where a value a check refused came from.
func (r *resolver) checked(s setting, err error) error {
	if err != nil {
		return r.bad(s, fmt.Errorf("%w: %w", sandbox.ErrInvalidConfig, err))
	}
	return nil
}

// egress resolves the egress mode, its rules and its proxy's settings, and
// refuses the combinations that would be weaker than they say, naming
// where each setting came from.
func (r *resolver) egress(cfg *sandbox.Config) (err error) {
	if cfg.Egress, err = egress.ParseMode(r.str(settingEgress)); err != nil {
		return r.bad(settingEgress, err)
	}
	if cfg.Allow, err = r.list(settingAllow); err != nil {
		return err
	}
	rules, err := egress.ParseRules(cfg.Allow)
	if err != nil {
		return r.bad(settingAllow, err)
	}
	cfg.Allow = egress.Strings(rules)
	cfg.EgressNetwork, cfg.EgressDNS = r.str(settingEgressNetwork), r.str(settingEgressDNS)
	mode := cfg.EgressMode()
	if mode.Proxied() {
		if cfg.Network != "" {
			return fmt.Errorf("%s with %s %s: the workspace is alone on a network of its own with its egress proxy, which no other network may join",
				r.source(settingNetwork), r.source(settingEgress), mode)
		}
		return nil
	}
	for _, s := range []setting{settingAllow, settingEgressNetwork, settingEgressDNS} {
		if r.explicit(s) {
			return fmt.Errorf("%s is for the allowlist and public modes, not egress %s (%s)", r.source(s), mode, r.source(settingEgress))
		}
	}
	if mode == egress.ModeNone && cfg.Network != "" {
		return fmt.Errorf("%s with egress none: a workspace of mode none has no network", r.source(settingNetwork))
	}
	return nil
}

// mounts resolves the volumes (volume_subpath) or the host paths (bind) of
// the mount mode.
func (r *resolver) mounts(cfg *sandbox.Config) (err error) {
	if cfg.Mode == sandbox.ModeVolumeSubpath && r.recordsOnly && cfg.WorkspaceVolume == "" {
		return fmt.Errorf("volume_subpath mode needs the workspace volume that holds the records: set --%s (or %s)", settingWorkspaceVolume.flag, settingWorkspaceVolume.env)
	}
	if cfg.Mode == sandbox.ModeVolumeSubpath && !r.recordsOnly && (cfg.WorkspaceVolume == "" || cfg.SharedVolume == "") {
		return fmt.Errorf("volume_subpath mode needs a workspace volume and a shared volume: set --%s and --%s (or %s and %s)",
			settingWorkspaceVolume.flag, settingSharedVolume.flag, settingWorkspaceVolume.env, settingSharedVolume.env)
	}
	if cfg.Mode != sandbox.ModeBind {
		return nil
	}
	if !cfg.CreateHostDirs {
		// The defaults are this machine's paths: meaningless on another host.
		for _, s := range []setting{settingWorkspaceRoot, settingSharedDir} {
			if !r.explicit(s) {
				return fmt.Errorf("bind mode on a remote engine (context %q, %s) needs --%s and --%s: absolute paths of directories on the engine's host (or use volume_subpath mode)",
					r.dockerCLI.CurrentContext(), r.dockerCLI.DockerEndpoint().Host, settingWorkspaceRoot.flag, settingSharedDir.flag)
			}
		}
	}
	if cfg.WorkspaceRoot, err = r.hostPath(cfg.CreateHostDirs, settingWorkspaceRoot); err != nil {
		return err
	}
	cfg.SharedDir, err = r.hostPath(cfg.CreateHostDirs, settingSharedDir)
	return err
}

// hostPath makes a bind path absolute: against the working directory when the
// engine shares this host; a remote engine's paths must be absolute already.
func (r *resolver) hostPath(local bool, s setting) (string, error) {
	p := r.str(s)
	if p == "" {
		return "", fmt.Errorf("%s is empty", r.source(s))
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	if !local {
		return "", fmt.Errorf("%s %q: the engine is remote, so the path must be absolute and name a directory of the engine's host", r.source(s), p)
	}
	return filepath.Abs(p)
}

// remoteBindNote is said once per command run that binds paths on a remote
// engine.
func remoteBindNote(dockerCLI command.Cli, cfg sandbox.Config) string {
	if cfg.Mode != sandbox.ModeBind || cfg.CreateHostDirs {
		return ""
	}
	return fmt.Sprintf("context %q is a remote engine (%s): bind paths %s and %s are directories of the engine's host, which it creates when missing",
		dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host, cfg.WorkspaceRoot, cfg.SharedDir)
}

// localEngine says whether the engine shares this host's filesystem: a
// unix socket or a named pipe. Any other endpoint (tcp://, ssh://) is remote.
func localEngine(dockerCLI command.Cli) bool {
	host := dockerCLI.DockerEndpoint().Host
	return strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "npipe://")
}

// enabled reads GATEWAY_WORKSPACE_DOCKER_ENABLED (or "enabled" in config.json).
func enabled(dockerCLI command.Cli, flags *pflag.FlagSet) (bool, error) {
	r := &resolver{dockerCLI: dockerCLI, flags: flags, profile: map[setting]string{settingEnabled: "true"}}
	return r.bool(settingEnabled)
}

// disabledBy names where "enabled" was set false: the variable, or the
// key of config.json (messages name the source, as for every setting).
func disabledBy(dockerCLI command.Cli, flags *pflag.FlagSet) string {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	return r.source(settingEnabled)
}
