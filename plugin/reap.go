package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/opts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

type reapOptions struct {
	idleFor   time.Duration
	interval  time.Duration
	cpu       float64
	once      bool
	quiet     bool
	action    string
	timeout   int
	filter    opts.FilterOpt
	server    string
	tokenFile string
	flags     *pflag.FlagSet
}

// signalIsNormal marks a command that runs until it is stopped: SIGINT or
// SIGTERM ends it with exit 0.
const signalIsNormal = "docker-workspace/signal-is-normal"

func newReapCommand(dockerCLI command.Cli) *cobra.Command {
	options := reapOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "reap [OPTIONS]",
		Short: "Stop or pause the workspaces that stay idle",
		Long: "Stop (or, with --action pause, pause) the workspace containers that have been idle for --idle-for:\n" +
			"for the whole time, no exec\n" +
			"session running in the container, no process in it but its init and sleep, no CPU use above\n" +
			"--cpu (a share of one CPU, from the engine's stats between two passes). It runs until it is\n" +
			"stopped (SIGINT, SIGTERM: exit 0), one pass every --interval, and logs to stderr each change of a\n" +
			"workspace's state (busy, idle, stopped or paused; --quiet: none, only errors).\n" +
			"What it knows lives in memory: a restarted reaper starts counting again. With --once it makes one\n" +
			"pass and exits (for cron): it suspends the workspaces that have run for at least --idle-for and are\n" +
			"idle now (over a second). It never stops a container that is not a workspace's.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			options.flags = cmd.Flags()
			return runReap(cmd.Context(), dockerCLI, &options)
		},
		Annotations:           map[string]string{signalIsNormal: "true"},
		ValidArgsFunction:     cobra.NoFileCompletions,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.DurationVar(&options.idleFor, "idle-for", 0, "Suspend a workspace idle for this long (required), e.g. 30m")
	flags.DurationVar(&options.interval, "interval", time.Minute, "Time between two passes")
	flags.Float64Var(&options.cpu, "cpu", sandbox.DefaultReapCPU, "CPU use, as a share of one CPU, above which a workspace is busy")
	flags.BoolVar(&options.once, "once", false, "Make one pass and exit")
	flags.BoolVarP(&options.quiet, "quiet", "q", false, "Log no decision, only errors")
	flags.StringVar(&options.action, "action", "stop",
		`What to do with an idle workspace: "stop" (frees its memory) or "pause" (freezes its processes, keeps its memory); ensure, exec, shell or cp wakes it`)
	_ = cmd.RegisterFlagCompletionFunc("action", completion.FromList("stop", "pause"))
	flags.IntVarP(&options.timeout, "timeout", "t", sandbox.DefaultStopTimeout, "Seconds to wait before killing a container it stops")
	flags.VarP(&options.filter, "filter", "f", "Only the workspaces that match, as ls --filter")
	flags.StringVar(&options.server, "server", "", "Reap through a docker workspace serve at this address (unix:///PATH; env GATEWAY_WORKSPACE_SERVER) "+
		"instead of the engine: its token's workspaces (env GATEWAY_WORKSPACE_TOKEN, or --token-file)")
	flags.StringVar(&options.tokenFile, "token-file", "", "With --server: the file that holds the token")
	return cmd
}

func runReap(ctx context.Context, dockerCLI command.Cli, options *reapOptions) error {
	if err := checkReapOptions(options); err != nil {
		return err
	}
	if options.server == "" {
		options.server = os.Getenv(envServer)
	}
	if options.server != "" {
		return runReapRemote(ctx, dockerCLI, options)
	}
	f := options.filter.Value()
	if err := checkListFilters(f); err != nil {
		return err
	}
	if f.Contains("drift") {
		// reap compares no configuration: a drift filter would match all.
		return usageError(errors.New("--filter: drift is not a filter of reap (it compares no configuration); use ls --filter drift=… to choose, then subdir="))
	}
	b, err := newBackend(dockerCLI, options.flags, "")
	if err != nil {
		return err
	}
	c, err := b.containers("reap")
	if err != nil {
		return err
	}
	r := c.NewReaper(sandbox.ReapOptions{
		IdleFor: options.idleFor, CPU: options.cpu,
		Select: func(w sandbox.Workspace) bool { return matches(f, w) },
		Stop:   sandbox.StopOptions{Timeout: &options.timeout},
		Pause:  options.action == "pause",
	})
	log := &reapLog{w: dockerCLI.Err(), quiet: options.quiet}
	if options.once {
		ds, err := r.Once(ctx, time.Second)
		log.decisions(ds)
		return err
	}
	if !options.quiet {
		log.printf("reaping workspaces idle for %s, every %s, on context %q", options.idleFor, options.interval, dockerCLI.CurrentContext())
	}
	return reapLoop(ctx, options, log, func() ([]sandbox.Decision, error) { return r.Pass(ctx, time.Now()) }, func(err error) bool {
		if sandbox.Unreachable(err) {
			log.printf("%v", engineErr(dockerCLI, err)) // the engine may come back
			return true
		}
		return false
	})
}

// reapLoop makes a pass every interval until ctx ends; a pass whose error
// passing says may pass (the engine or the server may come back) is said,
// and the next one made.
func reapLoop(ctx context.Context, options *reapOptions, log *reapLog, pass func() ([]sandbox.Decision, error), passing func(error) bool) error {
	tick := time.NewTicker(options.interval)
	defer tick.Stop()
	for {
		ds, err := pass()
		log.decisions(ds)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !passing(err):
			return err
		}
		select {
		case <-ctx.Done():
			if !options.quiet {
				log.printf("stopped")
			}
			return nil
		case <-tick.C:
		}
	}
}

// The environment of a caller of `docker workspace serve`.
const (
	envServer = "GATEWAY_WORKSPACE_SERVER"
	envToken  = "GATEWAY_WORKSPACE_TOKEN"
)

// runReapRemote reaps through a server: its reaper, over the workspaces
// of the token, without the engine's socket.
func runReapRemote(ctx context.Context, dockerCLI command.Cli, options *reapOptions) error {
	if options.filter.Value().Len() > 0 {
		return usageError(errors.New("--filter: with --server, the token's workspaces are reaped (its patterns choose them)"))
	}
	token := os.Getenv(envToken)
	if options.tokenFile != "" {
		b, err := os.ReadFile(options.tokenFile)
		if err != nil {
			return usageError(fmt.Errorf("--token-file: %w", err))
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usageError(fmt.Errorf("--server: a token is needed (%s, or --token-file)", envToken))
	}
	c, err := api.NewClient(options.server, token, nil)
	if err != nil {
		return usageError(fmt.Errorf("--server: %w", err))
	}
	defer c.Close()
	req := api.ReapRequest{IdleFor: options.idleFor.String(), Action: options.action, CPU: options.cpu, Once: options.once, Timeout: &options.timeout}
	pass := func() ([]sandbox.Decision, error) {
		ds, err := c.Reap(ctx, req)
		out := make([]sandbox.Decision, 0, len(ds))
		for _, d := range ds {
			// What a server says is printed as data, never as terminal codes.
			w := sandbox.Workspace{ID: d.Name, Name: printable(d.Name), Subdir: printable(d.Subdir)}
			out = append(out, sandbox.Decision{Workspace: w, Action: printable(d.Action), Why: printable(d.Why), IdleSince: d.IdleSince})
		}
		return out, err
	}
	log := &reapLog{w: dockerCLI.Err(), quiet: options.quiet}
	if options.once {
		ds, err := pass()
		log.decisions(ds)
		return err
	}
	if !options.quiet {
		log.printf("reaping workspaces idle for %s, every %s, through %s", options.idleFor, options.interval, options.server)
	}
	return reapLoop(ctx, options, log, pass, func(err error) bool {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 { // refused: it will be again
			return false
		}
		log.printf("%v", err) // the server may come back
		return true
	})
}

// checkReapOptions refuses options that make no sense.
func checkReapOptions(options *reapOptions) error {
	switch {
	case options.idleFor < 0:
		return usageError(fmt.Errorf("invalid --idle-for %s: must be positive", options.idleFor))
	case options.idleFor == 0:
		return usageError(errors.New("--idle-for is required: how long a workspace must be idle to be suspended (e.g. 30m)"))
	case options.interval <= 0 && !options.once:
		return usageError(fmt.Errorf("invalid --interval %s: must be positive", options.interval))
	case options.cpu <= 0 || options.cpu > 64:
		return usageError(fmt.Errorf("invalid --cpu %g: a share of one CPU, such as 0.01", options.cpu))
	case options.timeout < 0:
		return usageError(fmt.Errorf("invalid --timeout %d: must not be negative", options.timeout))
	case options.action != "stop" && options.action != "pause":
		return usageError(fmt.Errorf(`invalid --action %q: "stop" or "pause"`, options.action))
	}
	return nil
}

// reapLog is the reaper's log: a line, with the time, for each change of a
// workspace's state from one pass to the next (none when quiet).
type reapLog struct {
	w     io.Writer
	quiet bool
	last  map[string]string // container ID → its action in the last pass
}

func (l *reapLog) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(l.w, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", args...)
}

func (l *reapLog) decisions(ds []sandbox.Decision) {
	seen := make(map[string]string, len(ds))
	for _, d := range ds {
		seen[d.Workspace.ID] = d.Action
		if l.quiet || l.last[d.Workspace.ID] == d.Action {
			continue
		}
		who := d.Workspace.Name
		if d.Workspace.Subdir != "" {
			who = fmt.Sprintf("%s (%s)", d.Workspace.Subdir, d.Workspace.Name)
		}
		if d.Action == "idle" {
			l.printf("%s: idle for %s (%s)", who, time.Since(d.IdleSince).Round(time.Second), d.Why)
		} else {
			l.printf("%s: %s: %s", who, d.Action, d.Why)
		}
	}
	l.last = seen
}
