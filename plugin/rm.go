package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type rmOptions struct {
	refs   []string
	force  bool
	forget bool
	flags  *pflag.FlagSet
}

func newRemoveCommand(dockerCLI command.Cli) *cobra.Command {
	var opts rmOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] WORKSPACE [WORKSPACE...]",
		Aliases: []string{"remove"},
		Short:   "Remove the sandbox container of each workspace",
		Long: "Remove the sandbox container of each workspace, named by its subdir, its container's name or\n" +
			"its container's ID. Only the container (and, in the allowlist and public egress modes, its\n" +
			"egress proxy with the proxy's network and volume: rules added live go with them): never a\n" +
			"workspace or shared volume, never a directory; the workspace data stays, and the next ensure\n" +
			"makes a new container for it. --forget removes its record\n" +
			"too (never its data), in the root or volume that ensure's configuration names.\n\n" + configFlagsNote,
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs = args
			opts.flags = cmd.Flags()
			return runRemove(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.force, "force", "f", false, "Remove a running container too (it is killed); what is gone already is no error")
	flags.BoolVar(&opts.forget, "forget", false, "Also forget each workspace (its record in its root or volume: nothing else), so that one above or below it may be made; "+
		"its data stays. WORKSPACE is a subdir; the configuration flags say where its root or volume is")
	addConfigFlags(flags)
	hideConfigFlags(flags)
	completeConfigFlags(cmd, dockerCLI)
	return cmd
}

func runRemove(ctx context.Context, dockerCLI command.Cli, opts *rmOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	if opts.forget {
		return runForget(ctx, b, opts)
	}
	return eachTarget(ctx, b, opts.refs, func(ctx context.Context, w sandbox.Workspace) error {
		return b.Remove(ctx, w, sandbox.RemoveOptions{Force: opts.force})
	}, func(t sandbox.Target) error {
		if !t.Named && removeLeftovers(ctx, b, t.Ref) {
			return nil
		}
		err := fmt.Errorf("%w: workspace %q has no %s", sandbox.ErrNoSuchWorkspace, t.Ref, b.Traits().Unit)
		if t.Named {
			err = fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		if opts.force { // as docker rm -f: what is gone is said, and no error
			_, _ = fmt.Fprintln(dockerCLI.Err(), err)
			return nil
		}
		return err
	})
}

// removeLeftovers removes what a workspace without a container left on
// one engine (its egress proxy, with its network and state: Compose's
// `down -p` without the file removes the container itself, and never asks
// the provider), and says whether there was any.
func removeLeftovers(ctx context.Context, b *backend, subdir string) bool {
	c, ok := b.Orchestrator.(sandbox.Containers)
	if !ok {
		return false
	}
	report, err := c.Prune(ctx, sandbox.PruneOptions{Labels: []string{sandbox.LabelSubdir + "=" + subdir}})
	if err != nil || len(report.Egress) == 0 {
		return false
	}
	_, _ = fmt.Fprintf(b.dockerCLI.Err(), "workspace %q had no container; removed what it left: %s\n", subdir, strings.Join(report.Egress, ", "))
	_, _ = fmt.Fprintln(b.dockerCLI.Out(), subdir)
	return true
}

// runForget removes the container of each workspace (as rm does) and then
// its record: the workspace is forgotten, its data kept.
func runForget(ctx context.Context, b *backend, opts *rmOptions) error {
	for _, ref := range opts.refs {
		if err := sandbox.ValidateSubdir(ref); err != nil {
			return usageError(fmt.Errorf("--forget takes subdirs: %w", err))
		}
	}
	cfg, err := recordsConfig(b.dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	c, err := b.containers("rm --forget")
	if err != nil {
		return usageError(err)
	}
	var failed error
	for _, ref := range opts.refs {
		err := eachTarget(ctx, b, []string{ref}, func(ctx context.Context, w sandbox.Workspace) error {
			return b.Remove(ctx, w, sandbox.RemoveOptions{Force: opts.force})
		}, func(sandbox.Target) error { return nil })
		if err == nil {
			err = c.Forget(ctx, ref, cfg)
		}
		if err != nil {
			_, _ = fmt.Fprintln(b.dockerCLI.Err(), engineErr(b.dockerCLI, hints(err, ref)))
			failed = cli.StatusError{StatusCode: 1}
			continue
		}
		_, _ = fmt.Fprintf(b.dockerCLI.Err(), "workspace %q forgotten; its data stays\n", ref)
	}
	return failed
}
