package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/opts"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type pruneOptions struct {
	force  bool
	filter opts.FilterOpt
	flags  *pflag.FlagSet
}

func newPruneCommand(dockerCLI command.Cli) *cobra.Command {
	options := pruneOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped workspace containers",
		Long: "Remove all stopped workspace containers, as docker container prune does, and the temporary\n" +
			"containers that interrupted runs left (gws_new_…, gws_helper_…, gws_old_…). Never a running\n" +
			"container, never a volume, never a directory: the data stays, and the next ensure makes a new\n" +
			"container for it.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			options.flags = cmd.Flags()
			return runPrune(cmd.Context(), dockerCLI, &options)
		},
		ValidArgsFunction:     cobra.NoFileCompletions,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&options.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(&options.filter, "filter", `Provide filter values (e.g. "until=24h", "label=team=blue", "compose-project=gw", "subdir=alice")`)
	return cmd
}

const pruneWarning = `WARNING! This will remove all stopped workspace containers (their data stays).
Are you sure you want to continue?`

func runPrune(ctx context.Context, dockerCLI command.Cli, options *pruneOptions) error {
	po, err := pruneFilters(options.filter.Value(), time.Now())
	if err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, options.flags, "")
	if err != nil {
		return err
	}
	c, err := b.containers("prune")
	if err != nil {
		return err
	}
	if !options.force {
		ok, err := command.PromptForConfirmation(ctx, dockerCLI.In(), dockerCLI.Out(), pruneWarning) //nolint:staticcheck // docker prune's own prompt (docker CLI v28.5)
		if err != nil {
			return err
		}
		if !ok {
			// As docker container prune: a "no" is not a failure (exit 0).
			_, _ = fmt.Fprintln(dockerCLI.Err(), "workspace prune has been cancelled")
			return nil
		}
	}
	report, err := c.Prune(ctx, po)
	if err != nil {
		return engineErr(dockerCLI, err)
	}
	if len(report.Removed) > 0 {
		_, _ = fmt.Fprintln(dockerCLI.Out(), "Deleted Containers:")
		for _, w := range report.Removed {
			_, _ = fmt.Fprintln(dockerCLI.Out(), w.ID)
		}
		_, _ = fmt.Fprintln(dockerCLI.Out())
	}
	if len(report.Egress) > 0 {
		_, _ = fmt.Fprintln(dockerCLI.Out(), "Deleted Egress Proxies:")
		for _, name := range report.Egress {
			_, _ = fmt.Fprintln(dockerCLI.Out(), name)
		}
		_, _ = fmt.Fprintln(dockerCLI.Out())
	}
	_, _ = fmt.Fprintln(dockerCLI.Out(), "Total reclaimed space:", units.HumanSize(float64(report.SpaceReclaimed)))
	return nil
}

// pruneFilters turns --filter into the options of sandbox.Prune: until= (a
// duration before now, an RFC 3339 time or Unix seconds), label=,
// compose-project=.
func pruneFilters(f filters.Args, now time.Time) (sandbox.PruneOptions, error) {
	var po sandbox.PruneOptions
	if err := f.Validate(map[string]bool{"until": true, "label": true, "compose-project": true, "subdir": true}); err != nil {
		return po, usageError(fmt.Errorf("--filter: %w", err))
	}
	for _, v := range f.Get("until") {
		t, err := untilTime(v, now)
		if err != nil {
			return po, usageError(fmt.Errorf("--filter: invalid until %q: %w", v, err))
		}
		if po.Until.IsZero() || t.Before(po.Until) {
			po.Until = t
		}
	}
	po.Labels = f.Get("label")
	if len(f.Get("subdir")) > 1 {
		return po, usageError(errors.New("--filter: only one subdir"))
	}
	for _, s := range f.Get("subdir") {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return po, usageError(fmt.Errorf("--filter: %w", err))
		}
		po.Labels = append(po.Labels, sandbox.LabelSubdir+"="+s)
	}
	for _, l := range po.Labels {
		if k, _, _ := strings.Cut(l, "="); strings.TrimSpace(k) == "" {
			// An empty label filter selects nothing, and would prune all.
			return po, usageError(fmt.Errorf("--filter: label %q: a label filter needs a key (label=KEY or label=KEY=VALUE)", l))
		}
	}
	if p := f.Get("compose-project"); len(p) > 1 {
		return po, usageError(errors.New("--filter: only one compose-project"))
	} else if len(p) == 1 {
		if p[0] == "" {
			return po, usageError(errors.New("--filter: compose-project needs a project name"))
		}
		po.ComposeProject = p[0]
	}
	return po, nil
}

func untilTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if sec, err := strconv.ParseInt(strings.SplitN(v, ".", 2)[0], 10, 64); err == nil {
		return time.Unix(sec, 0), nil
	}
	return time.Time{}, errors.New("must be a duration (24h), an RFC 3339 time or Unix seconds")
}
