package plugin

import (
	"context"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	clicontainer "github.com/docker/cli/cli/command/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type shellOptions struct {
	workspace string
	noEnsure  bool
	exec      clicontainer.ExecOptions // its -u and -e: the shell's, as exec's are its command's
	flags     *pflag.FlagSet
}

func newShellCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	var opts shellOptions
	cmd := &cobra.Command{
		Use:   "shell [OPTIONS] WORKSPACE",
		Short: "Open a login shell in the sandbox container of a workspace",
		Long: "Ensure the workspace, then open an interactive login shell of the container's user, or of\n" +
			"--user (the shell its /etc/passwd names; sh when it names none) in the workspace directory.\n" +
			"--user and --env are the shell's, as exec's are its command's.\n\n" + configFlagsNote,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.workspace, opts.flags = args[0], cmd.Flags()
			return runShell(cmd.Context(), dockerCLI, build, &opts)
		},
		ValidArgsFunction:     firstArg(completeWorkspaces(dockerCLI)),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	opts.exec = clicontainer.NewExecOptions()
	flags.StringVarP(&opts.exec.User, "user", "u", "", `Username or UID of the shell (format: "<name|uid>[:<group|gid>]"; default: the container's user)`)
	flags.VarP(&opts.exec.Env, "env", "e", "Set environment variables of the shell")
	flags.BoolVar(&opts.noEnsure, "no-ensure", false, "Fail instead of making or starting the workspace's container")
	addConfigFlags(flags, settingUser, settingEnv)
	hideConfigFlags(flags)
	completeConfigFlags(cmd, dockerCLI)
	return cmd
}

func runShell(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *shellOptions) error {
	b, cli, loc, err := execTarget(ctx, dockerCLI, opts.flags, build, opts.workspace, opts.noEnsure, nil)
	if err != nil {
		return err
	}
	exec := opts.exec
	exec.Interactive = true
	exec.TTY = cli.In().IsTerminal()
	exec.Workdir = sandbox.WorkspaceTarget
	sh, err := b.LoginShell(ctx, loc, exec.User)
	if err != nil {
		return engineErr(cli, err)
	}
	exec.Command = []string{sh, "-l"}
	return runExecIn(ctx, cli, loc.ContainerID, b.timeout, exec)
}
