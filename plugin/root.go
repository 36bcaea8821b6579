// Package plugin holds the commands of the docker-workspace CLI plugin:
// cobra commands, flags, configuration and output over package sandbox.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docker-workspace/docker-workspace/sandbox"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/spf13/cobra"
)

// Name is the plugin's name: `docker workspace`.
const Name = "workspace"

// BuildInfo is what the binary was built from, stamped by the linker.
type BuildInfo struct {
	Version string
	Commit  string
}

// NewRootCommand returns the `workspace` command with the subcommands
// that args (the command line it is to run) name; with all of them when args
// name none (help, completion of a command's name). Each subcommand takes
// its share of the time a command spends before it does anything: a run
// builds only the one it runs.
func NewRootCommand(dockerCLI command.Cli, build BuildInfo, args []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Manage workspace sandbox containers",
		Long: "Manage the long-lived sandbox container of each workspace: one container per workspace\n" +
			"subdir, with the workspace at /home/agent/workspace and a shared directory at /home/agent/shared.",
		TraverseChildren: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		// --version, as `docker compose --version`; `version` says more.
		Version: build.Version + ", build " + build.Commit,
	}
	cmd.SetVersionTemplate("docker-workspace version {{.Version}}\n")
	cmd.InitDefaultVersionFlag() // now, so that the reference lists it
	cmd.Flags().Lookup("version").Usage = "Print version information and quit"
	// cobra runs the parent for an unknown subcommand: make that an error,
	// as docker's own commands do.
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		path := cmd.CommandPath()
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
		}
		return cli.StatusError{
			StatusCode: 1,
			Status:     fmt.Sprintf("%s: '%s' is not a %s command.%s\nSee '%s --help'", path, args[0], path, hint, path),
		}
	}
	cmd.PersistentFlags().Var(newTypedString(sandbox.DefaultTimeout.String(), "duration"), settingAPITimeout.flag,
		"Time limit of each engine call")
	addOrchestratorFlag(cmd.PersistentFlags())
	_ = cmd.RegisterFlagCompletionFunc(settingOrchestrator.flag, completion.FromList(orchestratorEngine, orchestratorSwarm))
	_ = cmd.RegisterFlagCompletionFunc(settingAPITimeout.flag, cobra.NoFileCompletions)
	subs := subcommands(dockerCLI, build)
	named := make(map[string]bool, len(args))
	for _, a := range args {
		named[a] = true
	}
	var some []subcommand
	for _, sc := range subs {
		for _, n := range sc.names {
			if named[n] {
				some = append(some, sc)
				break
			}
		}
	}
	if len(some) > 0 {
		subs = some
	}
	for _, sc := range subs {
		cmd.AddCommand(sc.make())
	}
	wrapRun(cmd, dockerCLI)
	return cmd
}

// subcommand is a command of `docker workspace`: the names it answers to
// (its name and aliases) and how it is made.
type subcommand struct {
	names []string
	make  func() *cobra.Command
}

func subcommands(dockerCLI command.Cli, build BuildInfo) []subcommand {
	return []subcommand{
		{[]string{"ensure"}, func() *cobra.Command { return newEnsureCommand(dockerCLI, build) }},
		{[]string{"stop"}, func() *cobra.Command { return newStopCommand(dockerCLI) }},
		{[]string{"rm", "remove"}, func() *cobra.Command { return newRemoveCommand(dockerCLI) }},
		{[]string{"ls", "list", "ps"}, func() *cobra.Command { return newListCommand(dockerCLI) }},
		{[]string{"doctor"}, func() *cobra.Command { return newDoctorCommand(dockerCLI) }},
		{[]string{"version"}, func() *cobra.Command { return newVersionCommand(dockerCLI, build) }},
		{[]string{"compose"}, func() *cobra.Command { return newComposeCommand(dockerCLI, build) }},
		{[]string{"exec"}, func() *cobra.Command { return newExecCommand(dockerCLI, build) }},
		{[]string{"shell"}, func() *cobra.Command { return newShellCommand(dockerCLI, build) }},
		{[]string{"cp"}, func() *cobra.Command { return newCopyCommand(dockerCLI) }},
		{[]string{"inspect"}, func() *cobra.Command { return newInspectCommand(dockerCLI) }},
		{[]string{"restart"}, func() *cobra.Command { return newRestartCommand(dockerCLI) }},
		{[]string{"update"}, func() *cobra.Command { return newUpdateCommand(dockerCLI) }},
		{[]string{"stats"}, func() *cobra.Command { return newStatsCommand(dockerCLI) }},
		{[]string{"events"}, func() *cobra.Command { return newEventsCommand(dockerCLI) }},
		{[]string{"prune"}, func() *cobra.Command { return newPruneCommand(dockerCLI) }},
		{[]string{"reap"}, func() *cobra.Command { return newReapCommand(dockerCLI) }},
		{[]string{"egress"}, func() *cobra.Command { return newEgressCommand(dockerCLI) }},
		{[]string{"serve"}, func() *cobra.Command { return newServeCommand(dockerCLI, build) }},
	}
}

// wrapRun gives every command what all share. Its errors are told for a
// person (a failure to reach the engine is one line naming the context and
// the endpoint). On SIGINT or SIGTERM (Ctrl-C; also what the docker CLI
// relays to a plugin) its context is canceled, what it had begun is undone
// (sandbox cleans up with a context of its own), and it exits with 128 + the
// signal's number, as a shell does.
func wrapRun(cmd *cobra.Command, dockerCLI command.Cli) {
	for _, c := range cmd.Commands() {
		wrapRun(c, dockerCLI)
	}
	run := cmd.RunE
	if run == nil {
		return
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		parent := c.Context()
		ctx, cancel := context.WithCancelCause(parent)
		defer cancel(nil)
		go func() {
			select {
			case s := <-sigs:
				cancel(signalError{s})
			case <-ctx.Done():
			}
		}()
		c.SetContext(ctx)
		if err := checkConfigTypes(dockerCLI); err != nil {
			return err
		}
		warnUnknownKeys(dockerCLI)
		err := run(c, args)
		var se signalError
		switch {
		case c.Annotations[signalIsNormal] != "" && (errors.As(context.Cause(ctx), &se) || parent.Err() != nil):
			return nil
		case errors.As(context.Cause(ctx), &se):
			code := 130
			if se.sig == syscall.SIGTERM {
				code = 143
			}
			return cli.StatusError{StatusCode: code, Status: fmt.Sprintf("%s: stopped by %s", c.CommandPath(), se.sig)}
		case parent.Err() != nil:
			// The docker CLI got the signal and told the plugin through its
			// socket (the framework cancels the command's context).
			return cli.StatusError{StatusCode: 130, Status: c.CommandPath() + ": interrupted"}
		}
		var st cli.StatusError
		if errors.As(err, &st) && st.Status == "" && st.Cause == nil && st.StatusCode > 0 {
			// A code with nothing to say (exec passes its command's on): the
			// plugin framework would print an empty line before it exits.
			exit(st.StatusCode)
		}
		return engineErr(dockerCLI, err)
	}
}

// exit ends the process; tests make it return.
var exit = os.Exit

type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "stopped by " + e.sig.String() }
