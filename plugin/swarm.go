package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/pflag"
)

// The orchestrators: where workspaces run.
const (
	orchestratorEngine = "engine"
	orchestratorSwarm  = "swarm"
)

// onSwarm resolves --orchestrator (flag, GATEWAY_WORKSPACE_ORCHESTRATOR,
// config.json): whether workspaces are services of a Swarm.
func onSwarm(dockerCLI command.Cli, flags *pflag.FlagSet) (bool, error) {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	v, _ := r.lookup(settingOrchestrator)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", orchestratorEngine:
		return false, nil
	case orchestratorSwarm:
		return true, nil
	}
	return false, usageError(fmt.Errorf(`%s: invalid orchestrator %q: must be "engine" or "swarm"`, r.source(settingOrchestrator), v))
}

// newSwarm is the Swarm of the context's engine, which must be a manager:
// its first call says so in one line otherwise (asked only then, so that a
// warm ensure stays one call). The engines of its nodes are reached through
// their label docker-workspace.engine: a context name, or an endpoint.
func newSwarm(ctx context.Context, dockerCLI command.Cli, version string) (*sandbox.Swarm, *nodeEngines, error) {
	s := sandbox.NewSwarm(dockerCLI.Client())
	s.Version = version
	s.Progress = dockerCLI.Err()
	engines := &nodeEngines{dockerCLI: dockerCLI, clis: map[string]command.Cli{}}
	s.NodeEngine = func(_ context.Context, _ swarm.Node, label string) (sandbox.Client, error) {
		c, err := engines.cli(label)
		if err != nil {
			return nil, err
		}
		return c.Client(), nil
	}
	return s, engines, nil
}

// nodeEngines are docker CLIs of the nodes' engines, made once each.
type nodeEngines struct {
	dockerCLI command.Cli
	mu        sync.Mutex
	clis      map[string]command.Cli
}

// cli is the docker CLI of a node's engine, named by its label: an
// endpoint (unix://, tcp://, ssh://), or a context of this docker CLI.
func (e *nodeEngines) cli(label string) (command.Cli, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clis[label]; ok {
		return c, nil
	}
	var c command.Cli
	var err error
	if strings.Contains(label, "://") {
		var dc *command.DockerCli
		if dc, err = command.NewDockerCli(command.WithInputStream(e.dockerCLI.In()), command.WithOutputStream(e.dockerCLI.Out()), command.WithErrorStream(e.dockerCLI.Err())); err == nil {
			opts := cliflags.NewClientOptions()
			opts.Hosts = []string{label}
			err = dc.Initialize(opts)
		}
		c = dc
	} else {
		c, err = contextCLI(e.dockerCLI, label)
	}
	if err != nil {
		return nil, err
	}
	e.clis[label] = c
	return c, nil
}

// taskCLI is the docker CLI of the engine that runs a workspace's task,
// and the task's container: what exec, shell and cp use on Swarm.
func (e *nodeEngines) taskCLI(t sandbox.Task) (command.Cli, error) {
	if t.EngineLabel == "" {
		return nil, fmt.Errorf("workspace service %s runs on node %s, which has no %s label: the plugin reaches a task's container through its node's engine; add one: docker node update --label-add %s=CONTEXT-OR-ENDPOINT %s",
			t.Name, sandbox.NodeName(t.Node), sandbox.LabelNodeEngine, sandbox.LabelNodeEngine, sandbox.NodeName(t.Node))
	}
	c, err := e.cli(t.EngineLabel)
	if err != nil {
		return nil, fmt.Errorf("engine of node %s (%s=%s): %w", sandbox.NodeName(t.Node), sandbox.LabelNodeEngine, t.EngineLabel, err)
	}
	return c, nil
}

// swarmRefs: on Swarm, workspaces are named by their subdirs.
func swarmRefs(refs []string) error {
	for _, r := range refs {
		if err := sandbox.ValidateSubdir(r); err != nil {
			return usageError(fmt.Errorf("%w (on Swarm a workspace is named by its subdir)", err))
		}
	}
	return nil
}

// runSwarmStopOrRemove stops (scales to 0) or removes the services of
// workspaces, in parallel, printing each done in order.
func runSwarmStopOrRemove(ctx context.Context, dockerCLI command.Cli, refs []string, remove, force bool) error {
	if err := swarmRefs(refs); err != nil {
		return err
	}
	s, _, err := newSwarm(ctx, dockerCLI, "")
	if err != nil {
		return err
	}
	return eachParallel(ctx, refs, defaultParallel,
		func(ctx context.Context, subdir string) (bool, error) {
			if remove {
				_, err := s.Remove(ctx, subdir, force)
				return true, err
			}
			return s.Stop(ctx, subdir)
		},
		func(subdir string, _ bool, err error) error {
			switch {
			case err == nil:
				_, _ = fmt.Fprintln(dockerCLI.Out(), subdir)
			case errors.Is(err, sandbox.ErrNoSuchWorkspace) && remove && force:
			case errors.Is(err, sandbox.ErrNoSuchWorkspace) && !remove:
				_, _ = fmt.Fprintf(dockerCLI.Err(), "workspace %q has no service: nothing to stop\n", subdir)
			default:
				return err
			}
			return nil
		})
}

// swarmTask finds, or with ensure makes running, a workspace's task on
// Swarm, and the CLI of the engine that runs it.
func swarmTask(ctx context.Context, dockerCLI command.Cli, build BuildInfo, ref string, ensure bool, cfg sandbox.Config) (command.Cli, string, error) {
	if err := swarmRefs([]string{ref}); err != nil {
		return nil, "", err
	}
	s, engines, err := newSwarm(ctx, dockerCLI, build.Version)
	if err != nil {
		return nil, "", err
	}
	var t sandbox.Task
	for attempt := 0; ; attempt++ {
		if ensure {
			if _, err := s.Ensure(ctx, ref, cfg); err != nil {
				return nil, "", err
			}
		}
		if t, err = s.RunningTask(ctx, ref); err == nil {
			break
		}
		// Its task was replaced between the two (an update of the
		// service): ensure again, which waits for the new one.
		if !ensure || attempt == 2 {
			return nil, "", err
		}
	}
	c, err := engines.taskCLI(t)
	if err != nil {
		return nil, "", err
	}
	return c, t.ContainerID, nil
}

// notOnSwarm refuses, in one line, a command that works on one engine only.
func notOnSwarm(dockerCLI command.Cli, flags *pflag.FlagSet, what string) error {
	swarmMode, err := onSwarm(dockerCLI, flags)
	if err != nil || !swarmMode {
		return err
	}
	if what == "the Compose provider" {
		return usageError(errors.New("the Compose provider does not run on Swarm: Compose runs a project's services on one engine (docker stack deploys to Swarm); use --orchestrator engine (or leave GATEWAY_WORKSPACE_ORCHESTRATOR unset) for Compose"))
	}
	return usageError(fmt.Errorf("%s works on one engine's containers; on Swarm use docker service commands (a workspace is the service named as its container), or ensure, stop, rm, ls, exec, shell, cp and doctor, which support --orchestrator swarm", what))
}

// runSwarmDoctor checks the Swarm of the context's engine: its nodes, which
// can take workspaces, which engines answer through their labels, the
// configuration, and containers that may outlive a node that is down.
func runSwarmDoctor(ctx context.Context, dockerCLI command.Cli, opts *doctorOptions, rep doctorReport) error {
	cfg, cfgErr := workspaceConfig(dockerCLI, opts.flags)
	rep.Mode = cfg.Mode
	if cfgErr != nil {
		rep.Problems = append(rep.Problems, cfgErr.Error())
	}
	if opts.project != "" {
		rep.Problems = append(rep.Problems, "--compose-project: Compose is not supported on Swarm")
	}
	s, _, err := newSwarm(ctx, dockerCLI, "")
	if err != nil {
		return err
	}
	r, err := s.Check(ctx, cfg)
	if v, verr := dockerCLI.Client().ServerVersion(ctx); verr == nil {
		rep.Engine = &engineFacts{Version: v.Version, APIVersion: v.APIVersion, OS: v.Os}
	}
	switch {
	case unreachable(err):
		rep.Error = engineErr(dockerCLI, err).Error()
		rep.Problems = append(rep.Problems, rep.Error)
		return writeDoctorReport(dockerCLI, opts, rep)
	case errors.Is(err, sandbox.ErrNotSwarmManager):
		rep.Problems = append(rep.Problems, err.Error())
		return writeDoctorReport(dockerCLI, opts, rep)
	case err != nil:
		return engineErr(dockerCLI, err)
	}
	rep.Swarm = &r
	if cfgErr == nil {
		rep.Problems = append(rep.Problems, r.Problems...)
	}
	rep.Warnings = r.Warnings
	return writeDoctorReport(dockerCLI, opts, rep)
}
