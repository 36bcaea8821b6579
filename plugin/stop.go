package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type stopOptions struct {
	refs    []string
	timeout int
	signal  string
	flags   *pflag.FlagSet
}

func newStopCommand(dockerCLI command.Cli) *cobra.Command {
	var opts stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] WORKSPACE [WORKSPACE...]",
		Short: "Stop the sandbox container of each workspace",
		Long: "Stop the sandbox container of each workspace, named by its subdir, its container's name or\n" +
			"its container's ID. The container, its workspace and the shared data are kept; a subdir\n" +
			"without a container is not an error.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs = args
			opts.flags = cmd.Flags()
			return runStop(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.IntVarP(&opts.timeout, "timeout", "t", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container")
	flags.IntVar(&opts.timeout, "time", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container")
	_ = flags.MarkDeprecated("time", "use --timeout")
	flags.StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container (default: its own stop signal)")
	return cmd
}

func runStop(ctx context.Context, dockerCLI command.Cli, opts *stopOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	if opts.timeout < 0 {
		return usageError(fmt.Errorf("invalid --timeout %d: must not be negative", opts.timeout))
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	swarmMode, err := onSwarm(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not stopping any container\n", settingEnabled.env)
		return nil
	}
	if swarmMode {
		if opts.signal != "" || opts.flags.Changed("timeout") || opts.flags.Changed("time") {
			return usageError(errors.New("--signal and --timeout are not for Swarm: a service's stop grace period and signal are its own"))
		}
		return runSwarmStopOrRemove(ctx, dockerCLI, opts.refs, false, false)
	}
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	stop := sandbox.StopOptions{Timeout: &opts.timeout, Signal: opts.signal}
	return eachTarget(ctx, dockerCLI, m, opts.refs, func(ctx context.Context, w sandbox.Workspace) (bool, error) {
		return m.StopContainer(ctx, w, stop)
	}, func(t sandbox.Target) error {
		if t.Named {
			return fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		// The original module's semantics: nothing to stop is no error.
		_, _ = fmt.Fprintf(dockerCLI.Err(), "workspace %q has no container: nothing to stop\n", t.Ref)
		return nil
	})
}

// validateRefs refuses, as a usage error, a reference that can name
// nothing.
func validateRefs(refs []string) error {
	for _, r := range refs {
		if err := sandbox.ValidateRef(r); err != nil {
			return usageError(err)
		}
	}
	return nil
}

// eachTarget resolves the references (one container list), then runs do on
// each workspace container, in parallel, printing each reference done in
// order, as docker's commands over several containers do. A reference to
// no container (or one gone meanwhile) is handed to none.
func eachTarget(ctx context.Context, dockerCLI command.Cli, m *sandbox.Manager, refs []string,
	do func(context.Context, sandbox.Workspace) (found bool, err error), none func(sandbox.Target) error,
) error {
	targets, err := m.Resolve(ctx, refs)
	if err != nil {
		return err
	}
	return eachParallel(ctx, targets, defaultParallel,
		func(ctx context.Context, t sandbox.Target) (bool, error) {
			if t.Err != nil || t.Container == nil {
				return false, t.Err
			}
			return do(ctx, *t.Container)
		},
		func(t sandbox.Target, found bool, err error) error {
			switch {
			case err != nil:
				return err
			case !found:
				return none(t)
			}
			_, _ = fmt.Fprintln(dockerCLI.Out(), t.Ref)
			return nil
		})
}
