package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/cli/command"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// The Compose provider protocol (docker compose 2.36+): Compose runs
// `docker-workspace compose --project-name=P up --subdir=x … SERVICE` for a
// service with `provider: {type: workspace, options: {subdir: x, …}}`, reads
// JSON lines from stdout, and passes the `setenv` ones to the services that
// depend on it, as <SERVICE>_<KEY>.

const (
	optSubdir  = "subdir"
	optContext = "context"
)

type composeOptions struct {
	project string
	context string
	args    []string
	flags   *pflag.FlagSet
}

func newComposeCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	var opts composeOptions
	cmd := &cobra.Command{
		Use:   "compose [OPTIONS] COMMAND",
		Short: "Serve workspace services to Docker Compose (its provider protocol)",
		Long: "Serve workspace services to Docker Compose (its provider protocol): Compose runs\n" +
			"`compose --project-name=P up|down [--OPTION=VALUE...] SERVICE` for a service with\n" +
			"`provider: {type: workspace, options: {...}}`. The container is the service's as Compose\n" +
			"sees it (its labels), so ps, logs, exec, top, stop, start, restart, kill and down work on it.\n\n" +
			"What Compose 2.40 does not pass to a provider, and what follows:\n" +
			"  --dry-run         read from the command line of the Compose process that runs the\n" +
			"                    provider (Linux: /proc): up, down and stop then change nothing and say\n" +
			"                    what they would do. Where that cannot be read, they run for real.\n" +
			"  --force-recreate  read the same way: up replaces the workspace's container (its data\n" +
			"                    stays), as recreate: always does.\n" +
			"  other keys        of the service (networks, labels, ...) are not passed: only the\n" +
			"                    options under provider.options, those metadata declares.",
		Hidden: true,
	}
	cmd.PersistentFlags().StringVar(&opts.project, "project-name", "", "Compose project name")
	// Everything, errors included, goes to Compose as JSON lines.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		newProviderOutput(c.OutOrStdout()).send("error", err.Error())
		return err
	})
	up := newComposeActionCommand(dockerCLI, &opts, "up", "Ensure the workspace of a service", func(ctx context.Context, out providerOutput, subdir string) error {
		return runComposeUp(ctx, dockerCLI, build, &opts, out, subdir)
	})
	down := newComposeActionCommand(dockerCLI, &opts, "down", "Remove the workspace container of a service (never its data)", func(ctx context.Context, out providerOutput, subdir string) error {
		return runComposeDown(ctx, dockerCLI, &opts, out, subdir)
	})
	stop := newComposeActionCommand(dockerCLI, &opts, "stop", "Stop the workspace container of a service", func(ctx context.Context, out providerOutput, subdir string) error {
		return runComposeStop(ctx, dockerCLI, &opts, out, subdir)
	})
	cmd.AddCommand(newComposeMetadataCommand(dockerCLI, up), up, down, stop)
	return cmd
}

// newComposeActionCommand declares up, down or stop: all take every option
// (Compose before 2.36.1 passes every option to each), and metadata tells
// Compose which ones each really uses.
func newComposeActionCommand(dockerCLI command.Cli, opts *composeOptions, name, short string, run func(context.Context, providerOutput, string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " [OPTIONS] SERVICE",
		Short: short,
		Args:  cobra.ArbitraryArgs, // checked in RunE, to answer in JSON
		RunE: func(cmd *cobra.Command, args []string) error {
			out := newProviderOutput(dockerCLI.Out())
			opts.args, opts.flags = args, cmd.Flags()
			err := func() error {
				if len(args) != 1 {
					return fmt.Errorf("compose %s takes one SERVICE, got %d arguments", name, len(args))
				}
				if opts.project == "" {
					return errors.New("--project-name is required")
				}
				subdir, _ := cmd.Flags().GetString(optSubdir)
				if subdir == "" {
					return fmt.Errorf("service %q: the option %q is required", args[0], optSubdir)
				}
				if err := sandbox.ValidateSubdir(subdir); err != nil {
					return err
				}
				return run(cmd.Context(), out, subdir)
			}()
			if err != nil {
				out.send("error", err.Error())
			}
			return err
		},
	}
	flags := cmd.Flags()
	flags.String(optSubdir, "", "Workspace subdir of the service (required)")
	flags.StringVar(&opts.context, optContext, "", "Docker context to use (Compose does not pass its own; default: DOCKER_CONTEXT, or the current context)")
	addConfigFlags(flags)
	return cmd
}

// metadataParameter is one option in the metadata Compose reads.
type metadataParameter struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Type        string `json:"type"`
	Default     string `json:"default,omitempty"`
}

type commandMetadata struct {
	Parameters []metadataParameter `json:"parameters"`
}

func newComposeMetadataCommand(dockerCLI command.Cli, up *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "metadata",
		Short: "Print the options of each provider command, as JSON",
		RunE: func(*cobra.Command, []string) error {
			// The global settings too: an option Compose does not find
			// declared is dropped before it reaches the provider, and
			// `orchestrator: swarm` must be refused, not dropped.
			all := append(parameters(up.Flags(), nil), parameters(up.InheritedFlags(), globalFlags())...)
			few := parameters(up.Flags(), map[string]bool{optSubdir: true, optContext: true})
			stop := commandMetadata{Parameters: few}
			return json.NewEncoder(dockerCLI.Out()).Encode(struct {
				Description string           `json:"description"`
				Up          commandMetadata  `json:"up"`
				Down        commandMetadata  `json:"down"`
				Stop        *commandMetadata `json:"stop"`
			}{
				Description: "A long-lived sandbox container for a workspace subdir, with the workspace and a shared directory mounted",
				Up:          commandMetadata{Parameters: all},
				Down:        commandMetadata{Parameters: few},
				Stop:        &stop,
			})
		},
	}
}

// globalFlags are the flags of the global settings.
func globalFlags() map[string]bool {
	keep := map[string]bool{}
	for _, s := range globalSettings {
		keep[s.flag] = true
	}
	return keep
}

// parameters describes the flags (only those in keep, if not nil).
func parameters(flags *pflag.FlagSet, keep map[string]bool) []metadataParameter {
	var out []metadataParameter
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || keep != nil && !keep[f.Name] {
			return
		}
		p := metadataParameter{Name: f.Name, Description: f.Usage, Required: f.Name == optSubdir, Type: "string"}
		switch f.Value.Type() {
		case "bool":
			p.Type = "boolean"
		case "int", "int64":
			p.Type = "integer"
		}
		if f.DefValue != "" && f.DefValue != "[]" && f.Name != optSubdir {
			p.Default = f.DefValue
		}
		out = append(out, p)
	})
	return out
}

// providerOutput writes the JSON lines of the provider protocol.
type providerOutput struct{ enc *json.Encoder }

func newProviderOutput(w io.Writer) providerOutput { return providerOutput{enc: json.NewEncoder(w)} }

func (p providerOutput) send(typ, message string) {
	_ = p.enc.Encode(struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{typ, message})
}

// contextCLI is the docker CLI for a context (the provider's context option,
// ls --all-contexts), or the one given (DOCKER_CONTEXT and the current
// context) when name is empty.
func contextCLI(dockerCLI command.Cli, name string) (command.Cli, error) {
	if name == "" {
		return dockerCLI, nil
	}
	if name != command.DefaultContextName {
		if _, err := dockerCLI.ContextStore().GetMetadata(name); err != nil {
			return nil, fmt.Errorf("context %q: %w", name, err)
		}
	}
	c, err := command.NewDockerCli(command.WithInputStream(dockerCLI.In()), command.WithOutputStream(dockerCLI.Out()), command.WithErrorStream(dockerCLI.Err()))
	if err != nil {
		return nil, err
	}
	opts := cliflags.NewClientOptions()
	opts.Context = name
	return c, c.Initialize(opts)
}

// projectConfig resolves, for a Compose project, the configuration of its
// workspaces: the project's label, its volumes and network by their short
// names.
func projectConfig(ctx context.Context, b *backend, cfg sandbox.Config, project string) (sandbox.Config, error) {
	if project == "" {
		return cfg, nil
	}
	c, err := b.containers("a Compose project")
	if err != nil {
		return cfg, err
	}
	cfg.ComposeProject = project
	if err := c.ResolveCompose(ctx, &cfg); err != nil {
		if errors.Is(err, sandbox.ErrNotOnEngine) {
			return cfg, fmt.Errorf("%w — context %q (%s). Compose makes a volume of the project only when a service of its own mounts it "+
				"(mount it in one, as compose/compose.yaml's gateway does, or make it external); "+
				"or is Compose project %q on another engine? Set the provider option `context: NAME`, or run Compose with DOCKER_CONTEXT=NAME",
				err, b.dockerCLI.CurrentContext(), b.dockerCLI.DockerEndpoint().Host, project)
		}
		return cfg, engineErr(b.dockerCLI, err)
	}
	return cfg, nil
}

// composeBackend is the orchestrator of a provider command, over the
// docker CLI of its context option: one engine's containers (Compose runs
// a project's services on one engine).
func composeBackend(dockerCLI command.Cli, opts *composeOptions, version string) (sandbox.Containers, *backend, error) {
	name := opts.context
	if name == "" {
		// Compose does not tell its providers where it runs: the docker
		// CLI's --context (or -H) that runs Compose is read where it can be.
		switch caller := callingCompose(); {
		case caller.context != "":
			name = caller.context
		case caller.host != "":
			return nil, nil, fmt.Errorf("Compose runs with -H %s, which it does not tell its providers: set the provider option "+
				"`context: NAME` to a context of that engine (docker context create NAME --docker host=%s)", caller.host, caller.host)
		}
	}
	cli, err := contextCLI(dockerCLI, name)
	if err != nil {
		return nil, nil, err
	}
	b, err := newBackend(cli, opts.flags, version)
	if err != nil {
		return nil, nil, err
	}
	c, err := b.containers("the Compose provider")
	return c, b, err
}

// composeDefaultNetwork is the option network's value that names the
// project's default network.
const composeDefaultNetwork = "default"

func runComposeUp(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *composeOptions, out providerOutput, subdir string) error {
	c, b, err := composeBackend(dockerCLI, opts, build.Version)
	if err != nil {
		return err
	}
	if on, err := enabled(dockerCLI, opts.flags); err != nil || !on {
		if err == nil {
			out.send("info", disabledBy(dockerCLI, opts.flags)+" is false: no workspace container")
		}
		return err
	}
	caller := callingCompose()
	if caller.dryRun {
		out.send("info", fmt.Sprintf("dry run: would ensure workspace %q as %s", subdir, sandbox.ContainerName(subdir)))
		return dryRunEnv(ctx, c, opts.project, subdir, out)
	}
	cfg, err := commandConfig(ctx, b, opts.flags, opts.project)
	if err != nil {
		return engineErr(b.dockerCLI, err)
	}
	// The container is the service's, as Compose sees it. It joins a
	// network of the project only when the option `network` names one (by
	// its name in the Compose file; "default": the project's default
	// network, not the engine's), under the service's name; else its
	// egress mode decides (open: no other workspace, and no service of the
	// project, reaches it).
	cfg.ComposeService = opts.args[0]
	if err := composeNetwork(ctx, c, opts, &cfg); err != nil {
		return engineErr(b.dockerCLI, err)
	}
	if caller.forceRecreate {
		cfg.Recreate = sandbox.RecreateAlways // up --force-recreate: replaced, the data kept
	}
	if note := remoteBindNote(b.dockerCLI, cfg); note != "" {
		out.send("info", note)
	}
	if err := dropPrevious(ctx, c, opts.project, opts.args[0], subdir, out); err != nil {
		return engineErr(b.dockerCLI, err)
	}
	out.send("info", fmt.Sprintf("ensuring workspace %q as %s", subdir, sandbox.ContainerName(subdir)))
	res, err := c.Ensure(ctx, subdir, cfg)
	if err != nil {
		return engineErr(b.dockerCLI, hints(err, subdir))
	}
	msg := fmt.Sprintf("%s %s", res.Name, res.Action)
	if len(res.Drift) > 0 {
		msg += fmt.Sprintf(" (differs from the configuration: %s; kept, set recreate: if-changed to replace it)", strings.Join(res.Drift, ", "))
	}
	out.send("info", msg)
	sendEnv(out, res.Name, res.ID, res.Subdir, res.Mode)
	return nil
}

// dryRunEnv tells Compose, in a dry run, the variables a real up would
// give the services that depend on a workspace of the project that exists
// (new-user pass 13: with none, Compose foresaw their recreation).
func dryRunEnv(ctx context.Context, c sandbox.Containers, project, subdir string, out providerOutput) error {
	targets, err := c.Resolve(ctx, []string{subdir})
	if err != nil {
		return err
	}
	w := targets[0].Workspace
	if w == nil || w.Labels[sandbox.LabelComposeProject] != project {
		return nil // a real up makes it: its ID is new
	}
	sendEnv(out, w.Name, w.ID, subdir, w.Mode)
	return nil
}

// sendEnv gives Compose the variables of a workspace, for the services
// that depend on it.
func sendEnv(out providerOutput, name, id, subdir string, mode sandbox.MountMode) {
	for _, kv := range [][2]string{{"CONTAINER_NAME", name}, {"CONTAINER_ID", id}, {"SUBDIR", subdir}, {"MODE", string(mode)}} {
		out.send("setenv", kv[0]+"="+kv[1])
	}
}

// composeNetwork puts a service's workspace on the network its option
// names ("default": the project's default network), under the service's
// name.
func composeNetwork(ctx context.Context, c sandbox.Containers, opts *composeOptions, cfg *sandbox.Config) error {
	if cfg.Network == composeDefaultNetwork {
		net, err := c.ComposeDefaultNetwork(ctx, opts.project)
		if err != nil {
			return err
		}
		if net == "" {
			return fmt.Errorf("option network: Compose project %q has no default network on this engine", opts.project)
		}
		cfg.Network = net
	}
	if cfg.Network != "" {
		cfg.NetworkAliases = []string{opts.args[0]}
	}
	return nil
}

// dropPrevious removes the containers a service had for another subdir
// (its subdir option changed): Compose replaces a service's container when
// its configuration changes, and two containers under one service name
// would both answer to it on the project's network (new-user pass 10).
// Their data stays.
func dropPrevious(ctx context.Context, c sandbox.Containers, project, service, subdir string, out providerOutput) error {
	ws, err := c.List(ctx)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.Subdir == "" || w.Subdir == subdir || w.Labels[sandbox.LabelComposeProject] != project || w.Labels[sandbox.LabelComposeService] != service {
			continue
		}
		if _, err := c.RemoveForProject(ctx, project, w.Subdir); err != nil {
			return err
		}
		out.send("info", fmt.Sprintf("removed %s: service %s's workspace is %q now, no longer %q (whose data is kept)", w.Name, service, subdir, w.Subdir))
	}
	return nil
}

func runComposeDown(ctx context.Context, dockerCLI command.Cli, opts *composeOptions, out providerOutput, subdir string) error {
	c, b, err := composeBackend(dockerCLI, opts, "")
	if err != nil {
		return err
	}
	if callingCompose().dryRun {
		// What the real down would do: it removes only the project's own.
		targets, err := c.Resolve(ctx, []string{subdir})
		if err != nil {
			return engineErr(b.dockerCLI, err)
		}
		if w := targets[0].Workspace; w != nil && w.Labels[sandbox.LabelComposeProject] == opts.project {
			out.send("info", fmt.Sprintf("dry run: would remove %s; the workspace data would be kept", w.Name))
		} else {
			out.send("info", fmt.Sprintf("dry run: no container of project %q for workspace %q: nothing to remove", opts.project, subdir))
		}
		return nil
	}
	removed, err := c.RemoveForProject(ctx, opts.project, subdir)
	switch {
	case err != nil:
		return engineErr(b.dockerCLI, err)
	case removed:
		out.send("info", fmt.Sprintf("removed %s; the workspace data is kept", sandbox.ContainerName(subdir)))
	default:
		out.send("info", fmt.Sprintf("no container of project %q for workspace %q: nothing to remove", opts.project, subdir))
	}
	return nil
}

func runComposeStop(ctx context.Context, dockerCLI command.Cli, opts *composeOptions, out providerOutput, subdir string) error {
	c, b, err := composeBackend(dockerCLI, opts, "")
	if err != nil {
		return err
	}
	if callingCompose().dryRun {
		out.send("info", fmt.Sprintf("dry run: would stop the container of workspace %q of project %q", subdir, opts.project))
		return nil
	}
	found, err := c.StopForProject(ctx, opts.project, subdir, sandbox.StopOptions{})
	if err != nil {
		return engineErr(b.dockerCLI, err)
	}
	if found {
		out.send("info", "stopped "+sandbox.ContainerName(subdir))
	} else {
		out.send("info", fmt.Sprintf("no container of project %q for workspace %q: nothing to stop", opts.project, subdir))
	}
	return nil
}
