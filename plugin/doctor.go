package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	flags.StringVar(&opts.format, "format", "", `Format output: "json" for one JSON object`)
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
	Mode     sandbox.MountMode
	Engine   *engineFacts `json:",omitempty"`
	Modes    map[sandbox.MountMode]modeFacts
	Image    *sandbox.ImageCheck `json:",omitempty"`
	Sources  []sandbox.SourceCheck
	Problems []string
	Warnings []string `json:",omitempty"`
	// Plan is how a workspace's container would be mounted.
	Plan *sandbox.MountPlan `json:",omitempty"`
	// Leftovers counts temporary containers that killed runs left behind.
	Leftovers int
	// Swarm is what doctor found of the Swarm (--orchestrator swarm).
	Swarm *sandbox.SwarmCheck `json:",omitempty"`
	OK    bool
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
	if opts.format != "" && opts.format != "json" {
		return usageError(fmt.Errorf(`invalid --format %q: only "json" is supported`, opts.format))
	}
	rep := doctorReport{
		Context: dockerCLI.CurrentContext(), Endpoint: dockerCLI.DockerEndpoint().Host, Local: localEngine(dockerCLI),
		Modes: map[sandbox.MountMode]modeFacts{}, Sources: []sandbox.SourceCheck{}, Problems: []string{},
	}
	swarmMode, err := onSwarm(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if swarmMode {
		return runSwarmDoctor(ctx, dockerCLI, opts, rep)
	}
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	// A bad configuration is a problem to report, not a failure of doctor.
	cfg, cfgErr := workspaceConfig(dockerCLI, opts.flags)
	if cfgErr == nil {
		cfg, cfgErr = projectConfig(ctx, dockerCLI, m, cfg, opts.project)
	}
	rep.Mode = cfg.Mode
	switch {
	case unreachable(cfgErr):
		rep.Error = engineErr(dockerCLI, cfgErr).Error()
		rep.Problems = append(rep.Problems, rep.Error)
	default:
		if cfgErr != nil {
			rep.Problems = append(rep.Problems, cfgErr.Error())
		}
		r, err := m.Check(ctx, cfg)
		switch {
		case unreachable(err):
			rep.Error = engineErr(dockerCLI, err).Error()
			rep.Problems = append(rep.Problems, rep.Error)
		case err != nil:
			return err
		default:
			rep.Engine = &engineFacts{Version: r.EngineVersion, APIVersion: r.APIVersion, OS: r.OS}
			for mode, why := range r.Modes {
				rep.Modes[mode] = modeFacts{Supported: why == "", Reason: why}
			}
			if cfgErr == nil {
				rep.Image = &r.Image
				rep.Sources = append(rep.Sources, r.Sources...)
				rep.Problems = append(rep.Problems, r.Problems...)
			}
			rep.Leftovers = r.Leftovers
			rep.Plan = r.Plan
			rep.Warnings = r.Warnings
		}
	}
	return writeDoctorReport(dockerCLI, opts, rep)
}

// writeDoctorReport prints the report; a problem makes doctor exit 1.
func writeDoctorReport(dockerCLI command.Cli, opts *doctorOptions, rep doctorReport) error {
	rep.OK = len(rep.Problems) == 0
	if opts.format == "json" {
		if err := json.NewEncoder(dockerCLI.Out()).Encode(rep); err != nil {
			return err
		}
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
	if r.Engine == nil {
		line("Engine", "unreachable")
	} else {
		line("Engine", fmt.Sprintf("%s (%s), API %s", r.Engine.Version, r.Engine.OS, r.Engine.APIVersion))
		for _, mode := range []sandbox.MountMode{sandbox.ModeBind, sandbox.ModeVolumeSubpath} {
			f, ok := r.Modes[mode]
			if !ok {
				continue // on Swarm: per node
			}
			v := "yes"
			if !f.Supported {
				v = "no: " + f.Reason
			}
			line("Mode "+string(mode), v)
		}
	}
	if r.Mode != "" {
		line("Configured mode", string(r.Mode))
	}
	if r.Image != nil {
		v := "present (" + shortID(r.Image.ID) + ")"
		if !r.Image.Present {
			v = "not on the engine"
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
	if r.Plan != nil {
		how := map[string]string{
			sandbox.PrepareHere:   "missing directories are made on this host",
			sandbox.PrepareHelper: "missing directories are made by a helper container on the engine's side",
			sandbox.PrepareNone:   "the directories must exist: this engine can neither make nor bind a missing one",
		}[r.Plan.Prepare]
		for _, m := range r.Plan.Mounts {
			src := m.Source
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				src += ", subpath " + m.VolumeOptions.Subpath
			}
			line("Mount", fmt.Sprintf("%s %s -> %s", m.Type, src, m.Target))
		}
		line("Directories", how)
	}
	if sw := r.Swarm; sw != nil {
		line("Orchestrator", "swarm, placement "+string(sw.Placement))
		for _, n := range sw.Nodes {
			can := "takes workspaces"
			switch {
			case !n.Subpath:
				can = "no workspaces: Engine before 26.1 does not apply a volume subpath in a task"
			case n.EngineError != "":
				can = "no workspaces: engine " + n.EngineError
			case n.State != "ready" || n.Availability != "active":
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
		}{{"Workspace volume options", sw.VolumeOptions}, {"Shared volume options", sw.SharedVolumeOptions}} {
			what, opts := v.what, v.opts
			if len(opts) > 0 {
				var kv []string
				for _, k := range sortedKeys(opts) {
					kv = append(kv, k+"="+opts[k])
				}
				driver := sw.VolumeDriver
				if driver == "" {
					driver = "local"
				}
				line(what, driver+": "+strings.Join(kv, ","))
			}
		}
	}
	for _, w := range r.Warnings {
		line("Warning", w)
	}
	if r.Leftovers > 0 {
		line("Leftovers", fmt.Sprintf("%d temporary container(s) of interrupted runs (gws_new_…, gws_old_…, gws_helper_…); the next ensure that creates a container removes those whose process is gone", r.Leftovers))
	}
	if r.OK {
		line("Result", "ok")
	} else {
		line("Result", "ensure cannot work: "+strings.Join(r.Problems, "; "))
	}
	_ = w.Flush()
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
