package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/pflag"
)

// A setting is one configuration value. Its value comes from, first to last:
// the flag, the environment variable, the key of the same name as the flag in
// the "plugins" → "workspace" section of the docker CLI's config.json, the
// default.
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
	settingInit            = setting{"init", "GATEWAY_WORKSPACE_INIT"}
	settingEnabled         = setting{"enabled", "GATEWAY_WORKSPACE_DOCKER_ENABLED"}
)

// value resolves s. flags may lack the flag (enabled has none); then the
// default is def.
func (s setting) value(dockerCLI command.Cli, flags *pflag.FlagSet, def string) string {
	if f := flags.Lookup(s.flag); f != nil {
		if f.Changed {
			return f.Value.String()
		}
		def = f.DefValue
	}
	if v := os.Getenv(s.env); v != "" {
		return v
	}
	if cf := dockerCLI.ConfigFile(); cf != nil {
		if v := cf.Plugins[Name][s.flag]; v != "" {
			return v
		}
	}
	return def
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

func defaultWorkspaceRoot() string { return filepath.Join(dataHome(), "workspaces") }
func defaultSharedDir() string     { return filepath.Join(dataHome(), "shared") }

// addConfigFlags declares the flags that define a workspace container.
func addConfigFlags(flags *pflag.FlagSet) {
	flags.String(settingImage.flag, sandbox.DefaultImage, "Image of new workspace containers")
	flags.String(settingNetwork.flag, "", "Network that new workspace containers join")
	flags.String(settingMountMode.flag, string(sandbox.ModeBind), `Mount mode: "bind" (host directories) or "volume_subpath" (named volumes)`)
	flags.String(settingWorkspaceRoot.flag, defaultWorkspaceRoot(), "Bind mode: host directory that holds one directory per workspace")
	flags.String(settingSharedDir.flag, defaultSharedDir(), "Bind mode: host directory mounted at /home/agent/shared")
	flags.String(settingWorkspaceVolume.flag, "", "Volume subpath mode: volume that holds one directory per workspace")
	flags.String(settingSharedVolume.flag, "", "Volume subpath mode: volume mounted at /home/agent/shared")
	flags.String(settingPull.flag, string(sandbox.PullMissing), `Pull the image before creating a container ("missing", "always", "never")`)
	flags.Bool(settingInit.flag, true, "Run an init (tini) as PID 1 of new containers, to reap zombies and forward signals")
}

// workspaceConfig resolves the configuration of the workspace containers.
func workspaceConfig(dockerCLI command.Cli, flags *pflag.FlagSet) (sandbox.Config, error) {
	get := func(s setting) string { return s.value(dockerCLI, flags, "") }
	mode, err := sandbox.ParseMountMode(get(settingMountMode))
	if err != nil {
		return sandbox.Config{}, err
	}
	pull, err := sandbox.ParsePullPolicy(get(settingPull))
	if err != nil {
		return sandbox.Config{}, err
	}
	init, err := parseBool(settingInit, get(settingInit))
	if err != nil {
		return sandbox.Config{}, err
	}
	cfg := sandbox.Config{
		Image:           get(settingImage),
		Network:         get(settingNetwork),
		Mode:            mode,
		WorkspaceVolume: get(settingWorkspaceVolume),
		SharedVolume:    get(settingSharedVolume),
		Pull:            pull,
		CreateHostDirs:  localEngine(dockerCLI),
		Init:            init,
	}
	if mode == sandbox.ModeVolumeSubpath && (cfg.WorkspaceVolume == "" || cfg.SharedVolume == "") {
		return cfg, fmt.Errorf("volume_subpath mode needs a workspace volume and a shared volume: set --%s and --%s (or %s and %s)",
			settingWorkspaceVolume.flag, settingSharedVolume.flag, settingWorkspaceVolume.env, settingSharedVolume.env)
	}
	if mode == sandbox.ModeBind {
		if cfg.WorkspaceRoot, err = hostPath(cfg.CreateHostDirs, settingWorkspaceRoot, get(settingWorkspaceRoot)); err != nil {
			return cfg, err
		}
		if cfg.SharedDir, err = hostPath(cfg.CreateHostDirs, settingSharedDir, get(settingSharedDir)); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

// hostPath makes a bind path absolute: against the working directory when the
// engine shares this host; a remote engine's paths must be absolute already.
func hostPath(local bool, s setting, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("--%s is empty", s.flag)
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	if !local {
		return "", fmt.Errorf("--%s %q: the engine is remote, so the path must be absolute and name a directory of the engine's host", s.flag, p)
	}
	return filepath.Abs(p)
}

// localEngine says whether the engine shares this host's filesystem.
func localEngine(dockerCLI command.Cli) bool {
	host := dockerCLI.DockerEndpoint().Host
	return strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "npipe://")
}

// enabled reads GATEWAY_WORKSPACE_DOCKER_ENABLED (or "enabled" in config.json).
func enabled(dockerCLI command.Cli, flags *pflag.FlagSet) (bool, error) {
	return parseBool(settingEnabled, settingEnabled.value(dockerCLI, flags, "true"))
}

// parseBool reads a boolean setting as the seed's env_bool did.
func parseBool(s setting, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "y", "t":
		return true, nil
	case "0", "false", "no", "off", "n", "f":
		return false, nil
	}
	return false, fmt.Errorf("invalid %s %q: must be true or false", s.env, v)
}
