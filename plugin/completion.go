package plugin

import (
	"slices"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/spf13/cobra"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// completeWorkspaces completes the subdirs of the engine's workspaces (and
// the names of the original module's containers, which have none), leaving
// out those already given.
func completeWorkspaces(dockerCLI command.Cli) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		b, err := newBackend(dockerCLI, cmd.Flags(), "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		workspaces, err := b.List(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, w := range workspaces {
			ref := w.Subdir
			if ref == "" {
				ref = w.Name
			}
			if !slices.Contains(args, ref) {
				out = append(out, ref)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// joinableNetworks completes the networks a workspace may be put on: not
// the engine's host network, nor one of docker workspace's own, which are
// refused.
func joinableNetworks(dockerCLI command.Cli) cobra.CompletionFunc {
	all := completion.NetworkNames(dockerCLI)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, dir := all(cmd, args, toComplete)
		return slices.DeleteFunc(names, func(n string) bool { return n == "host" || n == "none" || sandbox.ReservedNetwork(n) }), dir
	}
}

// completeConfigFlags completes the values of the configuration flags, as
// `docker run` completes its own.
func completeConfigFlags(cmd *cobra.Command, dockerCLI command.Cli) {
	for flag, fn := range map[string]cobra.CompletionFunc{
		settingImage.flag:           completion.ImageNames(dockerCLI, -1),
		settingNetwork.flag:         joinableNetworks(dockerCLI),
		settingEgress.flag:          completion.FromList(string(egress.ModeOpen), string(egress.ModeNone), string(egress.ModeAllowlist), string(egress.ModePublic)),
		settingAllow.flag:           cobra.NoFileCompletions,
		settingEgressNetwork.flag:   joinableNetworks(dockerCLI),
		settingEgressDNS.flag:       cobra.NoFileCompletions,
		settingMountMode.flag:       completion.FromList(string(sandbox.ModeBind), string(sandbox.ModeVolumeSubpath)),
		settingPull.flag:            completion.FromList(string(sandbox.PullMissing), string(sandbox.PullAlways), string(sandbox.PullNever)),
		settingRecreate.flag:        completion.FromList(string(sandbox.RecreateNever), string(sandbox.RecreateIfChanged), string(sandbox.RecreateAlways)),
		settingProfile.flag:         completion.FromList(profileNames()...),
		settingWorkspaceVolume.flag: completion.VolumeNames(dockerCLI),
		settingSharedVolume.flag:    completion.VolumeNames(dockerCLI),
		settingPlacement.flag:       completion.FromList(string(sandbox.PlacementPinned), string(sandbox.PlacementShared)),
		settingVolumeDriver.flag:    completion.FromList("local"),
		settingVolumeOpt.flag:       completion.FromList("type=", "o=", "device="),
		settingSharedVolumeOpt.flag: completion.FromList("type=", "o=", "device="),
		settingUser.flag:            cobra.NoFileCompletions,
		settingEnv.flag:             completion.EnvVarNames,
		settingCPUs.flag:            cobra.NoFileCompletions,
		settingMemory.flag:          cobra.NoFileCompletions,
		settingPidsLimit.flag:       cobra.NoFileCompletions,
		settingLabel.flag:           cobra.NoFileCompletions,
		settingCapAdd.flag:          completeCapabilities,
		settingCapDrop.flag:         completeCapabilities,
		settingSecurityOpt.flag:     completion.FromList("no-new-privileges", "seccomp=", "apparmor=", "label="),
		settingWorkspaceRoot.flag:   completion.FileNames,
		settingSharedDir.flag:       completion.FileNames,
	} {
		if cmd.Flags().Lookup(flag) != nil {
			_ = cmd.RegisterFlagCompletionFunc(flag, fn)
		}
	}
}

// completeCapabilities completes Linux capabilities (docker's names).
func completeCapabilities(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"ALL", "AUDIT_CONTROL", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH",
		"FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE",
		"MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP",
		"SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
		"SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM"}, cobra.ShellCompDirectiveNoFileComp
}
