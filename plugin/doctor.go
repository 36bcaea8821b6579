package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/templates"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type doctorOptions struct {
	format  string
	project string
	flags   *pflag.FlagSet
}

func newDoctorCommand(dockerCLI command.Cli) *cobra.Command {
	var opts doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor [OPTIONS]",
		Short: "Check that the engine of the current context can serve the configured workspaces",
		Long: "Check that the engine of the current context can serve the configured workspaces: the\n" +
			"context and its endpoint, the engine and its API, the mount modes it can serve, the image,\n" +
			"and the bind paths or volumes as the engine sees them. Exits 1 when ensure could not work.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.flags = cmd.Flags()
			return runDoctor(cmd.Context(), dockerCLI, &opts)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.format, "format", "", `Format output: "json" for one JSON object, or a Go template`)
	flags.StringVar(&opts.project, "compose-project", "", "Check the volumes and network of this Compose project")
	addConfigFlags(flags)
	return cmd
}

// doctorReport is the output of doctor.
type doctorReport struct {
	Context  string
	Endpoint string
	Local    bool
	Error    string `json:",omitempty"` // the engine could not be reached
	// Orchestrator is where workspaces run (its name).
	Orchestrator string
	Mode         sandbox.MountMode
	// Pull is the configured pull policy (a missing image is pulled
	// unless it is "never").
	Pull     sandbox.PullPolicy `json:",omitempty"`
	Engine   *engineFacts       `json:",omitempty"`
	Modes    map[sandbox.MountMode]modeFacts
	Image    *sandbox.ImageCheck `json:",omitempty"`
	Sources  []sandbox.SourceCheck
	Problems []string
	Warnings []string `json:",omitempty"`
	// Egress is what a workspace of the configuration reaches.
	Egress string `json:",omitempty"`
	// Disk says whether a disk cap (--disk) can be enforced, and
	// WritableLayer whether a container's writable layer can be capped.
	Disk          string `json:",omitempty"`
	WritableLayer string `json:",omitempty"`
	// Plan is how a workspace's container would be mounted.
	Plan *sandbox.MountPlan `json:",omitempty"`
	// Leftovers counts temporary containers that killed runs left behind.
	Leftovers int
	// Nodes are the nodes of an orchestrator of nodes, Placement where a
	// workspace's data lives there, and the volumes' driver and options.
	Nodes               []sandbox.NodeReport `json:",omitempty"`
	Placement           sandbox.Placement    `json:",omitempty"`
	VolumeDriver        string               `json:",omitempty"`
	VolumeOptions       map[string]string    `json:",omitempty"`
	SharedVolumeOptions map[string]string    `json:",omitempty"`
	OK                  bool
}

type engineFacts struct {
	Version    string
	APIVersion string
	OS         string
}

type modeFacts struct {
	Supported bool
	Reason    string `json:",omitempty"`
}

func runDoctor(ctx context.Context, dockerCLI command.Cli, opts *doctorOptions) error {
	tmpl, err := doctorTemplate(opts.format)
	if err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	rep := doctorReport{
		Context: dockerCLI.CurrentContext(), Endpoint: dockerCLI.DockerEndpoint().Host, Local: localEngine(dockerCLI),
		Orchestrator: b.Traits().Name, Modes: map[sandbox.MountMode]modeFacts{}, Sources: []sandbox.SourceCheck{}, Problems: []string{},
	}
	// A bad configuration is a problem to report, not a failure of doctor.
	cfg, cfgErr := workspaceConfig(dockerCLI, opts.flags)
	if cfgErr == nil {
		cfg, cfgErr = projectConfig(ctx, b, cfg, opts.project)
	}
	rep.Mode, rep.Pull = cfg.Mode, cfg.Pull
	if sandbox.Unreachable(cfgErr) {
		rep.Error = engineErr(dockerCLI, cfgErr).Error()
		rep.Problems = append(rep.Problems, rep.Error)
		return writeDoctorReport(dockerCLI, tmpl, rep)
	}
	if cfgErr != nil {
		rep.Problems = append(rep.Problems, cfgErr.Error())
	}
	r, err := b.Check(ctx, cfg)
	switch {
	case sandbox.Unreachable(err):
		rep.Error = engineErr(dockerCLI, err).Error()
		rep.Problems = append(rep.Problems, rep.Error)
		return writeDoctorReport(dockerCLI, tmpl, rep)
	case errors.Is(err, sandbox.ErrNotManager):
		rep.Problems = append(rep.Problems, hints(err, "").Error())
		return writeDoctorReport(dockerCLI, tmpl, rep)
	case err != nil:
		return engineErr(dockerCLI, err)
	}
	rep.fill(r, cfgErr == nil)
	if on, err := enabled(dockerCLI, opts.flags); err == nil && !on {
		rep.Warnings = append(rep.Warnings, disabledBy(dockerCLI, opts.flags)+" is false: ensure and stop do nothing, and nothing wakes a workspace")
	}
	return writeDoctorReport(dockerCLI, tmpl, rep)
}

// fill puts in the report what the orchestrator's Check found; with
// cfgOK, what it found of the configuration too.
func (rep *doctorReport) fill(r sandbox.Report, cfgOK bool) {
	if r.EngineVersion != "" {
		rep.Engine = &engineFacts{Version: r.EngineVersion, APIVersion: r.APIVersion, OS: r.OS}
	}
	for mode, why := range r.Modes {
		rep.Modes[mode] = modeFacts{Supported: why == "", Reason: why}
	}
	if cfgOK {
		rep.Image = r.Image
		rep.Sources = append(rep.Sources, r.Sources...)
		rep.Problems = append(rep.Problems, r.Problems...)
	}
	rep.Leftovers, rep.Plan, rep.Warnings, rep.Egress = r.Leftovers, r.Plan, r.Warnings, r.Egress
	rep.Disk, rep.WritableLayer = r.Disk, r.WritableLayer
	rep.Nodes, rep.Placement = r.Nodes, r.Placement
	rep.VolumeDriver, rep.VolumeOptions, rep.SharedVolumeOptions = r.VolumeDriver, r.VolumeOptions, r.SharedVolumeOptions
}

// doctorTemplate is the template of a --format: nil for the text report,
// "json" for one JSON object, or a Go template, tried on a report with
// every part there so that a misspelt field is refused (125) before anything is
// asked of the engine.
func doctorTemplate(format string) (*template.Template, error) {
	tmpl, err := objectTemplate(format, doctorReport{
		Engine: &engineFacts{}, Modes: map[sandbox.MountMode]modeFacts{}, Image: &sandbox.ImageCheck{}, Plan: &sandbox.MountPlan{},
	})
	return tmpl, usageError(err)
}

// objectTemplate is the template of a --format that prints one object: nil
// for the command's own text, "json" for the object as JSON, or a Go
// template, tried on sample so that a misspelt field is refused before
// anything is asked of an engine.
func objectTemplate(format string, sample any) (*template.Template, error) {
	source := format
	switch format {
	case "":
		return nil, nil
	case "json":
		source = "{{json .}}"
	}
	tmpl, err := templates.Parse(source)
	if err == nil {
		err = tmpl.Execute(io.Discard, sample)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid --format %q: %w", format, err)
	}
	return tmpl, nil
}

// writeDoctorReport prints the report; a problem makes doctor exit 1.
func writeDoctorReport(dockerCLI command.Cli, tmpl *template.Template, rep doctorReport) error {
	rep.OK = len(rep.Problems) == 0
	if tmpl != nil {
		if err := tmpl.Execute(dockerCLI.Out(), rep); err != nil {
			return err
		}
		_, _ = fmt.Fprintln(dockerCLI.Out())
	} else {
		writeDoctor(dockerCLI.Out(), rep)
	}
	if !rep.OK {
		return cli.StatusError{StatusCode: 1, Status: "docker workspace doctor: " + rep.Problems[0]}
	}
	return nil
}

func writeDoctor(out io.Writer, r doctorReport) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	where := "remote"
	if r.Local {
		where = "local"
	}
	line := func(k, v string) { _, _ = fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	line("Context", r.Context)
	line("Endpoint", fmt.Sprintf("%s (%s)", r.Endpoint, where))
	writeEngine(line, r)
	if r.Mode != "" {
		line("Configured mode", string(r.Mode))
	}
	writeSources(line, r)
	if r.Egress != "" {
		line("Egress", r.Egress)
	}
	if r.Disk != "" {
		line("Disk cap", r.Disk)
	}
	if r.WritableLayer != "" {
		line("Writable layer", r.WritableLayer)
	}
	writePlan(line, r.Plan)
	writeNodes(line, r)
	for _, w := range r.Warnings {
		line("Warning", w)
	}
	if r.Leftovers > 0 {
		line("Leftovers", fmt.Sprintf("%d temporary container(s) of interrupted runs (gws_new_…, gws_old_…, gws_helper_…); "+
			"the next ensure that creates a container removes those whose process is gone", r.Leftovers))
	}
	if r.OK {
		line("Result", "ok")
	} else {
		line("Result", "ensure cannot work: "+strings.Join(r.Problems, "; "))
	}
	_ = w.Flush()
}

// writeEngine writes the engine and the mount modes it can serve.
func writeEngine(line func(k, v string), r doctorReport) {
	if r.Engine == nil {
		line("Engine", "unreachable")
		return
	}
	line("Engine", fmt.Sprintf("%s (%s), API %s", r.Engine.Version, r.Engine.OS, r.Engine.APIVersion))
	for _, mode := range []sandbox.MountMode{sandbox.ModeBind, sandbox.ModeVolumeSubpath} {
		f, ok := r.Modes[mode]
		if !ok {
			continue // per node
		}
		v := "yes"
		if !f.Supported {
			v = "no: " + f.Reason
		}
		line("Mode "+string(mode), v)
	}
}

// writeSources writes the image, and the paths or volumes, as the engine
// has them.
func writeSources(line func(k, v string), r doctorReport) {
	if r.Image != nil {
		v := "present (" + shortID(r.Image.ID) + ")"
		switch {
		case r.Image.Present:
		case r.Pull == sandbox.PullNever:
			v = "not on the engine"
		default:
			v = "not on the engine: ensure pulls it"
		}
		line("Image", r.Image.Ref+": "+v)
	}
	for _, s := range r.Sources {
		v := "cannot tell"
		if s.Exists != nil && *s.Exists {
			v = "exists"
		} else if s.Exists != nil {
			v = "does not exist"
		}
		if s.Note != "" {
			v += ": " + s.Note
		}
		line(strings.ToUpper(s.Kind[:1])+s.Kind[1:], s.Name+": "+v)
	}
}

// writePlan writes how a workspace's container would be mounted.
func writePlan(line func(k, v string), plan *sandbox.MountPlan) {
	if plan == nil {
		return
	}
	for _, m := range plan.Mounts {
		src := m.Source
		if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
			src += ", subpath " + m.VolumeOptions.Subpath
		}
		line("Mount", fmt.Sprintf("%s %s -> %s", m.Type, src, m.Target))
	}
	line("Directories", map[string]string{
		sandbox.PrepareHere:   "missing directories are made on this host",
		sandbox.PrepareHelper: "missing directories are made by a helper container on the engine's side",
		sandbox.PrepareNone:   "the directories must exist: this engine can neither make nor bind a missing one",
	}[plan.Prepare])
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// writeNodes writes the nodes of an orchestrator of nodes, and the options
// its volumes are made with.
func writeNodes(line func(k, v string), r doctorReport) {
	if len(r.Nodes) == 0 {
		return
	}
	line("Orchestrator", r.Orchestrator+", placement "+string(r.Placement))
	for _, n := range r.Nodes {
		can := "takes workspaces"
		switch {
		case !n.Subpath:
			can = "no workspaces: Engine before 26.1 does not apply a volume subpath in a task"
		case n.EngineError != "":
			can = "no workspaces: its engine cannot be reached: " + n.EngineError
		case !n.TakesWorkspaces:
			can = "no workspaces now"
		}
		label := n.EngineLabel
		if label == "" {
			label = "-"
		}
		line("Node "+n.Name, fmt.Sprintf("%s, %s, %s, Engine %s, engine label %s: %s", n.Role, n.State, n.Availability, n.Engine, label, can))
	}
	for _, v := range []struct {
		what string
		opts map[string]string
	}{{"Workspace volume options", r.VolumeOptions}, {"Shared volume options", r.SharedVolumeOptions}} {
		if len(v.opts) == 0 {
			continue
		}
		driver := r.VolumeDriver
		if driver == "" {
			driver = "local"
		}
		line(v.what, driver+": "+sandbox.OptsString(v.opts))
	}
}
