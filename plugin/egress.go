package plugin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/template"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/cli/templates"
	timetypes "github.com/docker/docker/api/types/time"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

func newEgressCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "egress COMMAND",
		Short: "Show and change what workspaces reach on the network",
		Long: "Show the egress of workspaces, change the rules of a workspace's egress proxy while it runs\n" +
			"(allowlist and public modes: in force within a second, no restart), and read its decisions.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newEgressListCommand(dockerCLI), newEgressChangeCommand(dockerCLI, true), newEgressChangeCommand(dockerCLI, false), newEgressLogCommand(dockerCLI))
	return cmd
}

type egressListOptions struct {
	refs   []string
	format string
	flags  *pflag.FlagSet
}

func newEgressListCommand(dockerCLI command.Cli) *cobra.Command {
	var o egressListOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [WORKSPACE...]",
		Aliases: []string{"list"},
		Short:   "List the egress mode and the rules in force of workspaces (all of them when none is named)",
		Args:    cli.RequiresMinArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.refs, o.flags = args, cmd.Flags()
			return runEgressList(cmd.Context(), dockerCLI, &o)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringVar(&o.format, "format", "", `Format output: "table", "table TEMPLATE", "json" or a Go template`)
	return cmd
}

// egressRow is one rule of a workspace (or its mode alone, without rules).
type egressRow struct {
	Workspace string
	Mode      egress.Mode
	Decision  string // allow, deny; "" for a row without a rule
	Rule      string
}

// egressDoc is what --format json prints of a workspace's egress.
type egressDoc struct {
	Workspace string
	Mode      egress.Mode
	Network   string
	Proxy     string   `json:",omitempty"`
	Allow     []string `json:",omitempty"`
	Deny      []string `json:",omitempty"`
}

func runEgressList(ctx context.Context, dockerCLI command.Cli, o *egressListOptions) error {
	format := formatter.Format(o.format)
	if o.format == "" || o.format == formatter.TableFormatKey {
		format = "table {{.Workspace}}\t{{.Mode}}\t{{.Decision}}\t{{.Rule}}"
	}
	if err := checkFormat(format, &egressRowContext{}); err != nil {
		return err
	}
	if err := validateRefs(o.refs); err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, o.flags, "")
	if err != nil {
		return err
	}
	workspaces, err := egressTargets(ctx, b, o.refs)
	if err != nil {
		return err
	}
	docs, err := egressDocs(ctx, b, workspaces)
	if err != nil {
		return err
	}
	if format.IsJSON() {
		enc := json.NewEncoder(dockerCLI.Out())
		for _, d := range docs {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	fctx := formatter.Context{Output: dockerCLI.Out(), Format: format}
	return fctx.Write(newEgressRowContext(), func(write func(formatter.SubContext) error) error {
		for _, d := range docs {
			for _, r := range egressRows(d) {
				if err := write(&egressRowContext{r: r}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// egressDocs are the egress of each workspace; one whose proxy does not
// run has its mode alone (and a warning).
func egressDocs(ctx context.Context, b *backend, workspaces []sandbox.Workspace) ([]egressDoc, error) {
	var docs []egressDoc
	for _, w := range workspaces {
		st, err := b.Egress(ctx, w, nil)
		switch {
		case errors.Is(err, sandbox.ErrNotRunning), errors.Is(err, sandbox.ErrProxyStopped), errors.Is(err, sandbox.ErrProxyGone):
			// Its rules are in its stopped proxy: the mode is still said.
			_, _ = fmt.Fprintf(b.dockerCLI.Err(), "warning: workspace %q: %v: its rules are not shown\n", w.Subdir, hints(err, w.Subdir))
		case err != nil:
			return nil, engineErr(b.dockerCLI, hints(err, w.Subdir))
		}
		d := egressDoc{Workspace: w.Subdir, Mode: st.Mode, Network: st.Network, Proxy: st.Proxy}
		if st.Policy != nil {
			d.Allow, d.Deny = st.Policy.Allow, st.Policy.Deny
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// egressTargets are the workspaces named, or all of them.
func egressTargets(ctx context.Context, b *backend, refs []string) ([]sandbox.Workspace, error) {
	if len(refs) == 0 {
		all, err := b.List(ctx)
		if err != nil {
			return nil, engineErr(b.dockerCLI, hints(err, ""))
		}
		return all, nil
	}
	var out []sandbox.Workspace
	for _, ref := range refs {
		w, err := find(ctx, b, ref, false, sandbox.Config{})
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// egressRows are a workspace's rules, a row each (its mode alone when it
// has none).
func egressRows(d egressDoc) []egressRow {
	var out []egressRow
	for _, r := range d.Allow {
		out = append(out, egressRow{d.Workspace, d.Mode, "allow", r})
	}
	for _, r := range d.Deny {
		out = append(out, egressRow{d.Workspace, d.Mode, "deny", r})
	}
	if len(out) == 0 {
		out = append(out, egressRow{Workspace: d.Workspace, Mode: d.Mode})
	}
	return out
}

type egressRowContext struct {
	formatter.HeaderContext
	r egressRow
}

func newEgressRowContext() *egressRowContext {
	return &egressRowContext{HeaderContext: formatter.HeaderContext{Header: formatter.SubHeaderContext{
		"Workspace": "WORKSPACE", "Mode": "MODE", "Decision": "DECISION", "Rule": "RULE",
	}}}
}

func (c *egressRowContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *egressRowContext) Workspace() string            { return printable(c.r.Workspace) }
func (c *egressRowContext) Mode() string                 { return string(c.r.Mode) }
func (c *egressRowContext) Decision() string             { return dashIfEmpty(c.r.Decision) }
func (c *egressRowContext) Rule() string                 { return dashIfEmpty(c.r.Rule) }

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type egressChangeOptions struct {
	ref   string
	rules []string
	flags *pflag.FlagSet
}

func newEgressChangeCommand(dockerCLI command.Cli, allow bool) *cobra.Command {
	var o egressChangeOptions
	verb, short := "allow", "Allow destinations to a running workspace, at once"
	if !allow {
		verb, short = "deny", "Deny destinations to a running workspace, at once (its open connections to them are cut)"
	}
	cmd := &cobra.Command{
		Use:   verb + " WORKSPACE RULE [RULE...]",
		Short: short,
		Long: short + ".\n\nA RULE is HOST[:PORT], *.DOMAIN[:PORT] or CIDR[:PORT] (ports 443 and 80 when none; a deny\n" +
			"rule without a port denies every port). A rule moves from the other list. Allowlist and public\n" +
			"modes only: the workspace's egress proxy holds the rules, and keeps them when it is made again.",
		Args: cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ref, o.rules, o.flags = args[0], args[1:], cmd.Flags()
			return runEgressChange(cmd.Context(), dockerCLI, &o, allow)
		},
		ValidArgsFunction:     firstArg(completeWorkspaces(dockerCLI)),
		DisableFlagsInUseLine: true,
	}
	return cmd
}

func runEgressChange(ctx context.Context, dockerCLI command.Cli, o *egressChangeOptions, allow bool) error {
	if err := checkExecRef(o.ref, true); err != nil {
		return err
	}
	if _, err := egress.ParseRules(o.rules); err != nil {
		return usageError(err)
	}
	b, err := newBackend(dockerCLI, o.flags, "")
	if err != nil {
		return err
	}
	w, err := find(ctx, b, o.ref, false, sandbox.Config{})
	if err != nil {
		return err
	}
	if _, err := b.Egress(ctx, w, &sandbox.EgressChange{Allow: allow, Rules: o.rules}); err != nil {
		return engineErr(b.dockerCLI, hints(err, w.Subdir))
	}
	return nil
}

type egressLogOptions struct {
	ref    string
	follow bool
	since  string
	tail   string
	format string
	flags  *pflag.FlagSet
}

func newEgressLogCommand(dockerCLI command.Cli) *cobra.Command {
	var o egressLogOptions
	cmd := &cobra.Command{
		Use:     "log [OPTIONS] WORKSPACE",
		Aliases: []string{"logs"},
		Short:   "Show the decisions of a workspace's egress proxy",
		Long: "Show the decisions of a workspace's egress proxy: the time, the workspace, what asked (dns,\n" +
			"connect, tls, http), the host and port, allow or deny, and the rule or the reason.",
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ref, o.flags = args[0], cmd.Flags()
			return runEgressLog(cmd.Context(), dockerCLI, &o)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.follow, "follow", "f", false, "Follow the decisions as they are made")
	flags.StringVar(&o.since, "since", "", `Show decisions since a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")`)
	flags.StringVarP(&o.tail, "tail", "n", "all", "Number of decisions to show from the end")
	flags.StringVar(&o.format, "format", "", `Format output: "json" (a JSON line each) or a Go template (default: a line each, as docker events)`)
	return cmd
}

// egressLogLine is the default line of a decision.
const egressLogLine = "{{.Time}} {{.Workspace}} {{.Kind}} {{.Target}} {{.Decision}}{{if .Rule}} rule={{.Rule}}{{end}}{{if .Reason}} reason={{json .Reason}}{{end}}"

func runEgressLog(ctx context.Context, dockerCLI command.Cli, o *egressLogOptions) error {
	tmpl, err := egressLogTemplate(o.format)
	if err != nil {
		return err
	}
	if err := checkExecRef(o.ref, true); err != nil {
		return err
	}
	if n, err := strconv.Atoi(o.tail); o.tail != "all" && (err != nil || n < 0) {
		return usageError(fmt.Errorf("invalid --tail %q: a number, or all", o.tail))
	}
	lo := sandbox.EgressLogOptions{Follow: o.follow, Tail: o.tail}
	if o.since != "" {
		ts, err := timetypes.GetTimestamp(o.since, time.Now())
		if err == nil {
			var sec, nsec int64
			sec, nsec, err = timetypes.ParseTimestamps(ts, 0)
			lo.Since = time.Unix(sec, nsec)
		}
		if err != nil {
			return usageError(fmt.Errorf("invalid --since %q: %w", o.since, err))
		}
	}
	b, err := newBackend(dockerCLI, o.flags, "")
	if err != nil {
		return err
	}
	w, err := find(ctx, b, o.ref, false, sandbox.Config{})
	if err != nil {
		return err
	}
	rc, err := b.EgressLog(ctx, w, lo)
	if err != nil {
		return engineErr(b.dockerCLI, hints(err, w.Subdir))
	}
	defer rc.Close()
	return printEgressLog(dockerCLI.Out(), rc, tmpl)
}

// printEgressLog prints each decision of a proxy's output: with tmpl, or
// as a JSON line (nil).
func printEgressLog(out io.Writer, log io.Reader, tmpl *template.Template) error {
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e proxy.Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // not a decision (the proxy's own words)
		}
		if tmpl == nil {
			b, err := json.Marshal(egressJSON(e))
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintln(out, string(b))
			continue
		}
		if err := tmpl.Execute(out, egressEntry{e}); err != nil {
			return err
		}
		_, _ = fmt.Fprintln(out)
	}
	return sc.Err()
}

// egressLogTemplate is the template of --format (nil: JSON lines).
func egressLogTemplate(format string) (*template.Template, error) {
	switch format {
	case "json":
		return nil, nil
	case "":
		format = egressLogLine
	}
	tmpl, err := templates.Parse(format)
	if err == nil {
		err = tmpl.Execute(io.Discard, egressEntry{})
	}
	if err != nil {
		return nil, usageError(fmt.Errorf("invalid --format %q: %w", format, err))
	}
	return tmpl, nil
}

// egressEntry is a decision as a template reads it.
type egressEntry struct{ proxy.Entry }

// egressJSON is a decision as --format json prints it: with the
// capitalised keys of docker's JSON (and of the template's fields); the
// proxy's own output (docker logs) keeps its lower-case ones.
type egressJSON struct {
	Time      time.Time
	Workspace string `json:",omitempty"`
	Kind      string
	Host      string
	Port      uint16 `json:",omitempty"`
	Decision  string
	Rule      string `json:",omitempty"`
	Reason    string `json:",omitempty"`
	Addr      string `json:",omitempty"`
}

// Time is the decision's time, as docker events prints one.
func (e egressEntry) Time() string { return e.Entry.Time.Format(time.RFC3339Nano) }

// Target is host:port (the host alone for a DNS question).
func (e egressEntry) Target() string {
	if e.Port == 0 {
		return e.Host
	}
	return e.Host + ":" + strconv.Itoa(int(e.Port))
}
