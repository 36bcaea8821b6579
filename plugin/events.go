package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/opts"
	"github.com/docker/docker/api/types/filters"
	timetypes "github.com/docker/docker/api/types/time"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type eventsOptions struct {
	since, until, format string
	filter               opts.FilterOpt
	allContexts          bool
	flags                *pflag.FlagSet
}

// eventKinds and eventReasons are the values the filters take.
var (
	eventKinds = []string{
		sandbox.EventCreated, sandbox.EventRecreated, sandbox.EventStarted, sandbox.EventStopped, sandbox.EventDied, sandbox.EventOOM,
		sandbox.EventPaused, sandbox.EventUnpaused, sandbox.EventUpdated, sandbox.EventRemoved, sandbox.EventDrift, sandbox.EventEgressDenied,
	}
	eventReasons = []string{sandbox.ReasonUser, sandbox.ReasonReaper, sandbox.ReasonCompose, sandbox.ReasonSwarm, sandbox.ReasonEngine, sandbox.ReasonPolicy}
)

func newEventsCommand(dockerCLI command.Cli) *cobra.Command {
	options := eventsOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events of the workspaces",
		Long: "Stream what happens to the workspaces, as docker events does for containers: created, recreated,\n" +
			"started, stopped, died, oom, paused, unpaused, updated, removed, drift, egress-denied — each with\n" +
			"its reason (user, reaper, compose, swarm, engine, policy). Built on the engine's own event stream\n" +
			"(and the egress proxies' logs), so what plain docker\n" +
			"commands do shows too. Without --until it streams until interrupted.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			options.flags = cmd.Flags()
			return runEvents(cmd.Context(), dockerCLI, &options)
		},
		ValidArgsFunction:     cobra.NoFileCompletions,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringVar(&options.since, "since", "", `Show events since a time: a timestamp (2006-01-02T15:04:05), a Unix time, or a duration before now ("10m")`)
	flags.StringVar(&options.until, "until", "", "Stream events until this time (same forms as --since)")
	flags.VarP(&options.filter, "filter", "f", `Filter output: "subdir=SUBDIR", "event=KIND", "reason=REASON" (a key given twice: either value)`)
	flags.StringVar(&options.format, "format", "", `Format output: "json" (one JSON object per line), or a Go template`)
	flags.BoolVar(&options.allContexts, "all-contexts", false, "Stream the events of every Docker context's engine (each line says its context); an unreachable context is reported, not fatal")
	_ = cmd.RegisterFlagCompletionFunc("filter", completeEventFilter)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func completeEventFilter(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, k := range eventKinds {
		out = append(out, "event="+k)
	}
	for _, r := range eventReasons {
		out = append(out, "reason="+r)
	}
	return append(out, "subdir="), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// eventRow is what a --format template sees: the event, and the context
// it came from (--all-contexts).
type eventRow struct {
	sandbox.Event
	Context string `json:",omitempty"`
}

func runEvents(ctx context.Context, dockerCLI command.Cli, options *eventsOptions) error {
	tmpl, err := checkEventsOptions(options)
	if err != nil {
		return usageError(err)
	}
	names := []string{dockerCLI.CurrentContext()}
	if options.allContexts {
		names = contextNames(dockerCLI, dockerCLI.Err())
	}
	w := &eventWriter{out: dockerCLI.Out(), tmpl: tmpl, filter: options.filter.Value(), contexts: options.allContexts}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = streamContext(ctx, dockerCLI, name, options, w)
			if errs[i] != nil && options.allContexts {
				_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: context %q: %v\n", name, errs[i])
			}
		}()
	}
	wg.Wait()
	if !options.allContexts {
		return errs[0]
	}
	return nil
}

// checkEventsOptions refuses a bad time, filter or format before anything
// is asked of an engine.
func checkEventsOptions(options *eventsOptions) (*template.Template, error) {
	for _, t := range []struct{ flag, v string }{{"--since", options.since}, {"--until", options.until}} {
		if t.v == "" {
			continue
		}
		if _, err := timetypes.GetTimestamp(t.v, time.Now()); err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", t.flag, t.v, err)
		}
	}
	if err := checkEventFilter(options.filter.Value()); err != nil {
		return nil, err
	}
	return objectTemplate(options.format, eventRow{})
}

// checkEventFilter refuses a filter key or a value no event has.
func checkEventFilter(f filters.Args) error {
	if err := f.Validate(map[string]bool{"subdir": true, "event": true, "reason": true}); err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	for key, known := range map[string][]string{"event": eventKinds, "reason": eventReasons} {
		for _, v := range f.Get(key) {
			if !slices.Contains(known, v) {
				return fmt.Errorf("--filter: invalid %s %q: one of %s", key, v, strings.Join(known, ", "))
			}
		}
	}
	return nil
}

// streamContext writes the events of one context until the stream ends.
func streamContext(ctx context.Context, dockerCLI command.Cli, name string, options *eventsOptions, w *eventWriter) error {
	cli := dockerCLI
	if options.allContexts {
		var err error
		if cli, err = contextCLI(dockerCLI, name); err != nil {
			return err
		}
	}
	b, err := newBackend(cli, options.flags, "")
	if err != nil {
		return err
	}
	evs, errc := b.Events(ctx, sandbox.EventOptions{Since: options.since, Until: options.until})
	for ev := range evs {
		if err := w.write(eventRow{Event: ev, Context: name}); err != nil {
			return err
		}
	}
	if err := <-errc; err != nil && ctx.Err() == nil {
		return engineErr(cli, hints(err, ""))
	}
	return nil
}

// eventWriter writes events, one line each, from the streams of one or
// more contexts.
type eventWriter struct {
	mu       sync.Mutex
	out      io.Writer
	tmpl     *template.Template
	filter   filters.Args
	contexts bool
	// seen are the events written lately, oldest first: two contexts of
	// one engine tell each event twice, and it is written once (as ls
	// --all-contexts lists a workspace once).
	seen  map[string]bool
	order []string
}

// seenLimit is how many events the writer remembers to write each once.
const seenLimit = 4096

// firstTime says whether an event is told for the first time.
func (w *eventWriter) firstTime(ev sandbox.Event) bool {
	if !w.contexts {
		return true
	}
	key := fmt.Sprintf("%s %s %s %d %s", ev.ID, ev.Subdir, ev.Kind, ev.Time.UnixNano(), ev.Detail)
	if w.seen[key] {
		return false
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[key] = true
	w.order = append(w.order, key)
	if len(w.order) > seenLimit {
		delete(w.seen, w.order[0])
		w.order = w.order[1:]
	}
	return true
}

func (w *eventWriter) write(r eventRow) error {
	if !w.matches(r.Event) {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.firstTime(r.Event) {
		return nil
	}
	if w.tmpl != nil {
		if err := w.tmpl.Execute(w.out, r); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w.out)
		return err
	}
	_, err := fmt.Fprintln(w.out, eventLine(r, w.contexts))
	return err
}

func (w *eventWriter) matches(ev sandbox.Event) bool {
	return (len(w.filter.Get("subdir")) == 0 || w.filter.ExactMatch("subdir", ev.Subdir)) &&
		(len(w.filter.Get("event")) == 0 || w.filter.ExactMatch("event", ev.Kind)) &&
		(len(w.filter.Get("reason")) == 0 || w.filter.ExactMatch("reason", ev.Reason))
}

// eventLine is an event as docker events writes one: time, kind, what,
// and its attributes.
func eventLine(r eventRow, withContext bool) string {
	attrs := []string{r.Unit + "=" + r.Name}
	if r.ID != "" {
		attrs = append(attrs, "id="+shortID(r.ID))
	}
	attrs = append(attrs, "reason="+r.Reason)
	if r.ExitCode != nil {
		attrs = append(attrs, fmt.Sprintf("exitCode=%d", *r.ExitCode))
	}
	if r.Node != "" {
		attrs = append(attrs, "node="+r.Node)
	}
	if r.Detail != "" {
		attrs = append(attrs, "detail="+r.Detail)
	}
	if withContext {
		attrs = append(attrs, "context="+r.Context)
	}
	// Nine digits always, as docker events writes them: lines align and sort.
	return fmt.Sprintf("%s %s %s (%s)", r.Time.Format("2006-01-02T15:04:05.000000000Z07:00"), r.Kind, r.Subdir, strings.Join(attrs, ", "))
}
