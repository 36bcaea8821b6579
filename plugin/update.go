package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type updateOptions struct {
	refs                   []string
	cpus, memory, pidLimit *typedString
	disk                   *typedString
	flags                  *pflag.FlagSet
}

func newUpdateCommand(dockerCLI command.Cli) *cobra.Command {
	opts := updateOptions{cpus: newTypedString("", "decimal"), memory: newTypedString("", "bytes"), pidLimit: newTypedString("", "int"), disk: newTypedString("", "bytes")}
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] WORKSPACE [WORKSPACE...]",
		Short: "Change the limits of one or more workspaces",
		Long: "Change the CPU, memory, process (and disk) limits of each workspace, as docker update does. On an\n" +
			"engine, a running container keeps running (same container, same processes); the engine keeps\n" +
			"the new limits, and drift (ensure, ls --check-config) compares the configuration with them. A\n" +
			"limit the engine's kernel cannot apply is refused, nothing changed. On Swarm it is a service\n" +
			"update, which replaces the workspace's task (its processes restart; its data stays).",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.flags = args, cmd.Flags()
			return runUpdate(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.Var(opts.cpus, "cpus", "Number of CPUs, e.g. 1.5")
	flags.VarP(opts.memory, "memory", "m", "Memory limit, e.g. 512m, 2g (at least 6m)")
	flags.Var(opts.pidLimit, "pids-limit", "Process limit (0 or -1: none)")
	flags.Var(opts.disk, "disk", "Cap on what the workspace's directory holds, e.g. 10g; refused where the file system cannot enforce it (see doctor)")
	return cmd
}

// limits parses the flags given: only those change.
func (o *updateOptions) limits() (sandbox.Limits, error) {
	var l sandbox.Limits
	if o.flags.Changed("cpus") {
		n, err := parseCPUs(o.cpus.value)
		if err != nil {
			return l, fmt.Errorf("invalid --cpus %q: %w", o.cpus.value, err)
		}
		if err := (sandbox.Limits{NanoCPUs: &n}).Validate(); err != nil {
			return l, fmt.Errorf("--cpus: %w", err)
		}
		l.NanoCPUs = &n
	}
	if o.flags.Changed("memory") {
		n, err := units.RAMInBytes(o.memory.value)
		if err != nil {
			return l, fmt.Errorf("invalid --memory %q: %w", o.memory.value, err)
		}
		if err := (sandbox.Limits{Memory: &n}).Validate(); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
		l.Memory = &n
	}
	if o.flags.Changed("pids-limit") {
		n, err := strconv.ParseInt(o.pidLimit.value, 10, 64)
		if err != nil {
			return l, fmt.Errorf("invalid --pids-limit %q: must be a number", o.pidLimit.value)
		}
		if n == -1 { // docker's "unlimited"
			n = 0
		}
		if err := (sandbox.Limits{PidsLimit: &n}).Validate(); err != nil {
			return l, fmt.Errorf("--pids-limit: %w", err)
		}
		l.PidsLimit = &n
	}
	if o.flags.Changed("disk") {
		n, err := parseDisk(o.disk.value)
		if err != nil {
			return l, fmt.Errorf("--disk: %w", err)
		}
		l.Disk = &n
	}
	if l == (sandbox.Limits{}) {
		return l, errors.New("nothing to update: give --cpus, --memory or --pids-limit")
	}
	return l, nil
}

func runUpdate(ctx context.Context, dockerCLI command.Cli, opts *updateOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	l, err := opts.limits()
	if err != nil {
		return usageError(err)
	}
	if err := l.Validate(); err != nil { // a disk cap: refused before any workspace is looked for
		return hints(err, "")
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	return eachTarget(ctx, b, opts.refs, func(ctx context.Context, w sandbox.Workspace) error {
		return b.Update(ctx, w, l)
	}, func(t sandbox.Target) error {
		return fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
	})
}
