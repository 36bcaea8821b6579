package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/sys/signal"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
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
	flags.IntVarP(&opts.timeout, "timeout", "t", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container (-1: wait for ever)")
	flags.IntVar(&opts.timeout, "time", sandbox.DefaultStopTimeout, "Seconds to wait before killing the container")
	_ = flags.MarkDeprecated("time", "use --timeout")
	flags.StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container (default: its own stop signal)")
	return cmd
}

func runStop(ctx context.Context, dockerCLI command.Cli, opts *stopOptions) error {
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
	var stop sandbox.StopOptions
	if opts.flags.Changed("timeout") || opts.flags.Changed("time") {
		stop.Timeout = &opts.timeout
	}
	stop.Signal = opts.signal
	if given := givenStopOptions(stop); given != "" && !b.Traits().StopOptions {
		return usageError(&sandbox.UnsupportedError{Orchestrator: b.Traits().Name, What: given, Why: "a " + b.Traits().Unit + "'s stop grace period and signal are its own"})
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not stopping any container\n", disabledBy(dockerCLI, opts.flags))
		return nil
	}
	return eachTarget(ctx, b, opts.refs, func(ctx context.Context, w sandbox.Workspace) error {
		return b.Stop(ctx, w, stop)
	}, func(t sandbox.Target) error {
		if t.Named {
			return fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		// The original module's semantics: nothing to stop is no error.
		_, _ = fmt.Fprintf(dockerCLI.Err(), "workspace %q has no %s: nothing to stop\n", t.Ref, b.Traits().Unit)
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

// eachTarget resolves the references (one list), then runs do on each
// workspace, in parallel, printing each reference done in order, as
// docker's commands over several containers do. A reference to no
// workspace, or to one gone meanwhile, is handed to none.
func eachTarget(ctx context.Context, b *backend, refs []string, do func(context.Context, sandbox.Workspace) error, none func(sandbox.Target) error) error {
	targets, err := b.Resolve(ctx, refs)
	if err != nil {
		return engineErr(b.dockerCLI, hints(err, ""))
	}
	// Two references to one workspace (its subdir and its ID): acted on
	// once, each said.
	first := map[string]int{}
	for i, t := range targets {
		if t.Workspace != nil {
			if _, ok := first[t.Workspace.ID]; !ok {
				first[t.Workspace.ID] = i
			}
		}
	}
	return eachParallel(ctx, targets, defaultParallel,
		func(ctx context.Context, t sandbox.Target) (bool, error) {
			if t.Err != nil || t.Workspace == nil {
				return false, t.Err
			}
			if t.Ref != targets[first[t.Workspace.ID]].Ref {
				return true, nil // another reference to a workspace acted on
			}
			err := do(ctx, *t.Workspace)
			if errors.Is(err, sandbox.ErrNoSuchWorkspace) {
				return false, nil // gone meanwhile
			}
			return true, err
		},
		func(t sandbox.Target, found bool, err error) error {
			switch {
			case err != nil:
				return engineErr(b.dockerCLI, hints(err, t.Subdir))
			case !found:
				return none(t)
			}
			_, _ = fmt.Fprintln(b.dockerCLI.Out(), t.Ref)
			return nil
		})
}

// checkStopOptions refuses, before the engine is asked, a timeout below -1
// (-1 waits for ever, as docker stop) and a signal that is none.
func checkStopOptions(timeout int, sig string) error {
	if timeout < -1 {
		return usageError(fmt.Errorf("invalid --timeout %d: seconds, or -1 to wait for ever", timeout))
	}
	if sig != "" {
		if _, err := signal.ParseSignal(sig); err != nil {
			return usageError(fmt.Errorf("invalid --signal %q: %w", sig, err))
		}
	}
	return nil
}

// givenStopOptions names the stop options given ("" for none).
func givenStopOptions(stop sandbox.StopOptions) string {
	var given []string
	if stop.Signal != "" {
		given = append(given, "--signal")
	}
	if stop.Timeout != nil {
		given = append(given, "--timeout")
	}
	return strings.Join(given, " and ")
}
