package plugin

import (
	"context"
	"fmt"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type restartOptions struct {
	refs    []string
	timeout int
	signal  string
	flags   *pflag.FlagSet
}

func newRestartCommand(dockerCLI command.Cli) *cobra.Command {
	var opts restartOptions
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] WORKSPACE [WORKSPACE...]",
		Short: "Restart the sandbox container of each workspace",
		Long: "Restart the sandbox container of each workspace, as docker restart does, after the checks of\n" +
			"every start (no other workspace overlaps it; on a local engine, no symlink on its path).",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.flags = args, cmd.Flags()
			return runRestart(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.IntVarP(&opts.timeout, "timeout", "t", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container")
	flags.StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container (default: its own stop signal)")
	return cmd
}

func runRestart(ctx context.Context, dockerCLI command.Cli, opts *restartOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	if err := checkStopOptions(opts.timeout, opts.signal); err != nil {
		return err
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	c, err := b.containers("restart")
	if err != nil {
		return err
	}
	if !on { // as ensure and stop (new-user pass 13: it restarted)
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not restarting any container\n", disabledBy(dockerCLI, opts.flags))
		return nil
	}
	stop := sandbox.StopOptions{Timeout: &opts.timeout, Signal: opts.signal}
	return eachTarget(ctx, b, opts.refs, func(ctx context.Context, w sandbox.Workspace) error {
		return c.Restart(ctx, w, stop)
	}, func(t sandbox.Target) error {
		return fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
	})
}
