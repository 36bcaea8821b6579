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
	subdirs []string
	timeout int
	flags   *pflag.FlagSet
}

func newStopCommand(dockerCLI command.Cli) *cobra.Command {
	var opts stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] SUBDIR [SUBDIR...]",
		Short: "Stop the sandbox container of each workspace",
		Long: "Stop the sandbox container of each workspace. The container, its workspace and the\n" +
			"shared data are kept; a workspace without a container is not an error.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("time") && cmd.Flags().Changed("timeout") {
				return errors.New("conflicting options: cannot specify both --time and --timeout")
			}
			opts.subdirs = args
			opts.flags = cmd.Flags()
			return runStop(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeSubdirs(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.IntVarP(&opts.timeout, "time", "t", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container")
	flags.IntVar(&opts.timeout, "timeout", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container (same as --time)")
	return cmd
}

func runStop(ctx context.Context, dockerCLI command.Cli, opts *stopOptions) error {
	for _, s := range opts.subdirs {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return err
		}
	}
	if opts.timeout < 0 {
		return fmt.Errorf("invalid --time %d: must not be negative", opts.timeout)
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not stopping any container\n", settingEnabled.env)
		return nil
	}
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	return eachWorkspace(dockerCLI, opts.subdirs, "stop", func(subdir string) (bool, error) {
		return m.Stop(ctx, subdir, &opts.timeout)
	})
}

// eachWorkspace runs fn for each subdir, as docker's commands over several
// containers do: it prints each subdir done, notes one without a container
// (no error), goes on after a failure and returns them all — but stops at an
// engine that cannot be reached, with one line.
func eachWorkspace(dockerCLI command.Cli, subdirs []string, verb string, fn func(subdir string) (found bool, err error)) error {
	var errs []error
	for _, subdir := range subdirs {
		found, err := fn(subdir)
		if err != nil {
			if u := unreachable(dockerCLI, err); u != nil {
				return u
			}
			errs = append(errs, err)
			continue
		}
		if !found {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "workspace %q has no container: nothing to %s\n", subdir, verb)
			continue
		}
		_, _ = fmt.Fprintln(dockerCLI.Out(), subdir)
	}
	return errors.Join(errs...)
}
