package plugin

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	clicontainer "github.com/docker/cli/cli/command/container"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/cpsafe"
)

type execOptions struct {
	workspace string
	noEnsure  bool
	exec      clicontainer.ExecOptions
	flags     *pflag.FlagSet
}

func newExecCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	opts := execOptions{exec: clicontainer.NewExecOptions()}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] WORKSPACE COMMAND [ARG...]",
		Short: "Execute a command in the sandbox container of a workspace",
		Long: "Execute a command in the sandbox container of a workspace, as docker exec does, in its\n" +
			"workspace directory. The workspace is ensured first (a subdir, with ensure's configuration:\n" +
			"flags, environment, config.json; --user and --env here are the command's, as docker exec's);\n" +
			"with --no-ensure it must be running, and may be named by its container's name or ID too.\n" +
			"The exit code is the command's.\n\n" + configFlagsNote,
		Args: cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.workspace, opts.exec.Command = args[0], args[1:]
			opts.flags = cmd.Flags()
			return runExec(cmd.Context(), dockerCLI, build, &opts)
		},
		ValidArgsFunction:     firstArg(completeWorkspaces(dockerCLI)),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false) // what follows the workspace is the command's
	addExecFlags(flags, &opts.exec, sandbox.WorkspaceTarget)
	flags.BoolVarP(&opts.exec.Detach, "detach", "d", false, "Detached mode: run command in the background")
	flags.StringVar(&opts.exec.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	flags.BoolVar(&opts.exec.Privileged, "privileged", false, "Give extended privileges to the command (refused with the hardened profile, and in the allowlist and public egress modes)")
	flags.BoolVar(&opts.noEnsure, "no-ensure", false, "Fail instead of making or starting the workspace's container")
	addConfigFlags(flags, settingUser, settingEnv)
	hideConfigFlags(flags)
	completeConfigFlags(cmd, dockerCLI)
	_ = cmd.RegisterFlagCompletionFunc("env", completion.EnvVarNames)
	return cmd
}

// addExecFlags declares docker exec's flags that exec and shell share.
func addExecFlags(flags *pflag.FlagSet, o *clicontainer.ExecOptions, workdir string) {
	flags.BoolVarP(&o.Interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&o.TTY, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.StringVarP(&o.User, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]"; default: the container's user)`)
	flags.VarP(&o.Env, "env", "e", "Set environment variables")
	flags.Var(&o.EnvFile, "env-file", "Read in a file of environment variables")
	flags.StringVarP(&o.Workdir, "workdir", "w", workdir, "Working directory inside the container (a relative one: below "+sandbox.WorkspaceTarget+")")
}

func firstArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return fn(cmd, args, toComplete)
	}
}

func runExec(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *execOptions) error {
	// A container that stops between the look and the exec (a task whose
	// container just exited: its orchestrator starts another) is ensured
	// again: the engine refused the exec, nothing ran.
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := runExecOnce(ctx, dockerCLI, build, opts)
		if opts.noEnsure || attempt == 3 || !cerrdefs.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func runExecOnce(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *execOptions) error {
	b, cli, loc, err := execTarget(ctx, dockerCLI, opts.flags, build, opts.workspace, opts.noEnsure, func(b *backend) error {
		switch {
		case !opts.exec.Privileged:
			return nil
		case hardened(dockerCLI, opts.flags):
			return usageError(fmt.Errorf("--privileged is refused with the hardened profile: it would undo what the profile takes away"))
		case opts.noEnsure:
			return nil // its labels are looked at where it is found
		}
		// What the workspace recorded refuses it before it is ensured
		// (new-user pass 13: it was ensured, then refused with 125).
		err := checkPrivileged(ctx, b, opts.workspace, nil)
		if errors.Is(err, sandbox.ErrNoSuchWorkspace) {
			return nil // made by this ensure: looked at once it is
		}
		return err
	})
	if err != nil {
		return err
	}
	if opts.exec.Privileged {
		if err := checkPrivileged(ctx, b, opts.workspace, loc.Labels); err != nil {
			return err
		}
	}
	exec := opts.exec
	exec.Workdir = sandbox.WorkdirIn(exec.Workdir)
	return runExecIn(ctx, cli, loc.ContainerID, b.timeout, exec)
}

// checkPrivileged refuses --privileged where the workspace's container
// recorded that it may not have it (labels: its labels, when known).
func checkPrivileged(ctx context.Context, b *backend, ref string, labels map[string]string) error {
	if labels == nil { // ensured: its labels looked up, for --privileged only
		w, err := find(ctx, b, ref, false, sandbox.Config{})
		if err != nil {
			return err
		}
		labels = w.Labels
	}
	if why := sandbox.PrivilegedRefusal(labels); why != "" {
		return usageError(fmt.Errorf("--privileged is refused: %s", why))
	}
	return nil
}

// execTarget is the running container that exec and shell run in, and
// the docker CLI of its engine (a node's, on an orchestrator of nodes): the
// reference and the configuration checked (and check, the command's own
// input), then the workspace ensured, or with noEnsure found.
func execTarget(ctx context.Context, dockerCLI command.Cli, flags *pflag.FlagSet, build BuildInfo, ref string, noEnsure bool,
	check func(*backend) error) (*backend, command.Cli, sandbox.Location, error) {
	fail := func(err error) (*backend, command.Cli, sandbox.Location, error) {
		return nil, nil, sandbox.Location{}, err
	}
	if err := checkExecRef(ref, noEnsure); err != nil {
		return fail(err)
	}
	b, err := newBackend(dockerCLI, flags, build.Version)
	if err != nil {
		return fail(err)
	}
	ensure := !noEnsure
	if ensure {
		if err := checkNotNames(ctx, b, []string{ref}, verbOf(flags)); err != nil {
			return fail(err)
		}
	}
	var cfg sandbox.Config
	if ensure {
		if cfg, err = commandConfig(ctx, b, flags, ""); err != nil {
			return fail(err)
		}
		if ensure, err = enabled(dockerCLI, flags); err != nil {
			return fail(err)
		}
		if !ensure {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not ensuring workspace %q (it must run)\n", disabledBy(dockerCLI, flags), ref)
		}
	}
	if check != nil {
		if err := check(b); err != nil {
			return fail(err)
		}
	}
	// Not running, it must be: what to do about it.
	must := "ensure it, or leave out --no-ensure"
	if !noEnsure {
		must = "nothing wakes it while " + disabledBy(dockerCLI, flags) + " is false"
	}
	cli, loc, err := locate(ctx, b, ref, ensure, cfg, must)
	return b, cli, loc, err
}

// checkExecRef: ensure takes a subdir; with --no-ensure a name or an ID
// will do too.
func checkExecRef(ref string, noEnsure bool) error {
	if noEnsure {
		return usageError(sandbox.ValidateRef(ref))
	}
	return usageError(sandbox.ValidateSubdir(ref))
}

// hardened says whether the hardened profile is in force.
func hardened(dockerCLI command.Cli, flags *pflag.FlagSet) bool {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	name, _ := r.lookup(settingProfile)
	return name == "hardened"
}

// locate is the container of a workspace and the docker CLI of its
// engine: ensured first (ref a subdir, cfg its configuration: one inspect
// when it runs), or found. With a mustRun hint, it must run (the hint says
// what to do when it does not). A task replaced
// between the ensure and the look (an update of its service) is ensured
// again.
func locate(ctx context.Context, b *backend, ref string, ensure bool, cfg sandbox.Config, mustRun string) (command.Cli, sandbox.Location, error) {
	// A task whose container just exited still counts as running for a
	// moment, until its orchestrator restarts it: looked at again, a while.
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		w, err := find(ctx, b, ref, ensure, cfg)
		if err != nil {
			return nil, sandbox.Location{}, err
		}
		if mustRun != "" && w.State != string(container.StateRunning) {
			return nil, sandbox.Location{}, fmt.Errorf("workspace %q is not running (its %s %s is %s): %s", ref, b.Traits().Unit, w.Name, w.State, mustRun)
		}
		loc, err := b.Locate(ctx, w)
		loc.Labels = w.Labels
		if errors.Is(err, sandbox.ErrNotRunning) && ensure && attempt < 8 {
			select {
			case <-ctx.Done():
				return nil, sandbox.Location{}, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		if errors.Is(err, sandbox.ErrNotRunning) {
			return nil, sandbox.Location{}, fmt.Errorf("workspace %q is not running (%w): ensure it", ref, err)
		}
		if err != nil {
			return nil, sandbox.Location{}, engineErr(b.dockerCLI, hints(err, ref))
		}
		cli, err := b.engineCLI(loc)
		return cli, loc, err
	}
}

// find is the workspace a reference names: ensured, or resolved.
func find(ctx context.Context, b *backend, ref string, ensure bool, cfg sandbox.Config) (sandbox.Workspace, error) {
	if ensure {
		res, err := b.Ensure(ctx, ref, cfg)
		if err != nil {
			return sandbox.Workspace{}, engineErr(b.dockerCLI, hints(err, ref))
		}
		warnDrift(b.dockerCLI.Err(), b.Traits(), ref, res)
		return sandbox.Workspace{ID: res.ID, Name: res.Name, Subdir: ref, State: string(container.StateRunning)}, nil
	}
	targets, err := b.Resolve(ctx, []string{ref})
	if err != nil {
		return sandbox.Workspace{}, engineErr(b.dockerCLI, hints(err, ref))
	}
	switch t := targets[0]; {
	case t.Err != nil:
		return sandbox.Workspace{}, t.Err
	case t.Workspace == nil:
		return sandbox.Workspace{}, fmt.Errorf("%w: workspace %q has no %s", sandbox.ErrNoSuchWorkspace, ref, b.Traits().Unit)
	default:
		return *t.Workspace, nil
	}
}

// runExecIn runs docker exec's own code on a container whose existence
// this command has established already: its check of the container is
// answered from that, so an exec costs no round trip beyond ensure's.
//
// Interrupted (SIGINT, SIGTERM), a command without a terminal would go on
// in the workspace (the engine has no call that signals an exec): it is
// marked with a variable of its own, and its processes, found by it, are
// sent the signal (as a terminal's hangup ends a command with one).
func runExecIn(ctx context.Context, dockerCLI command.Cli, id string, timeout time.Duration, opts clicontainer.ExecOptions) error {
	mark := ""
	if !opts.TTY && !opts.Detach {
		mark = execMark()
		_ = opts.Env.Set(execMarkVar + "=" + mark)
	}
	err := clicontainer.RunExec(ctx, knownCLI(dockerCLI, id, timeout), id, opts)
	if mark != "" && ctx.Err() != nil {
		sig := "TERM"
		if se := (signalError{}); errors.As(context.Cause(ctx), &se) && se.sig == os.Interrupt {
			sig = "INT"
		}
		endMarked(context.WithoutCancel(ctx), dockerCLI.Client(), id, opts.User, mark, sig, timeout)
	}
	return err
}

// execMarkVar marks the processes of an exec of this tool.
const execMarkVar = "DOCKER_WORKSPACE_EXEC"

func execMark() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// endMarkedScript signals, as the exec's user, each process whose
// environment holds the mark (the command and what it started); what is
// still there a second later (a background job of a shell ignores SIGINT,
// a trap may ignore any) is killed.
const endMarkedScript = `mark=$1 sig=$2
pids() { for d in /proc/[0-9]*; do tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qx "$mark" && echo "${d#/proc/}"; done; }
p=$(pids); [ -z "$p" ] && exit 0
kill -"$sig" $p 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; p=$(pids); [ -z "$p" ] && exit 0; done
kill -KILL $p 2>/dev/null; true`

// endMarked sends sig to the processes of an exec marked mark, through
// another exec (best effort: it needs sh, tr and grep in the image).
func endMarked(ctx context.Context, api client.APIClient, id, user, mark, sig string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := api.ContainerExecCreate(ctx, id, container.ExecOptions{User: user, Cmd: []string{"sh", "-c", endMarkedScript, "sh", execMarkVar + "=" + mark, sig}})
	if err != nil {
		return
	}
	if err := api.ContainerExecStart(ctx, resp.ID, container.ExecStartOptions{Detach: true}); err != nil {
		return
	}
	for ctx.Err() == nil {
		if st, err := api.ContainerExecInspect(ctx, resp.ID); err != nil || !st.Running {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// knownCLI is the docker CLI of a container's engine, for docker exec's and
// docker cp's own code: it knows the container exists, and each call gets
// an answer within timeout (a stream, once it answered, takes as long as
// it takes), as every call of ours does.
func knownCLI(dockerCLI command.Cli, id string, timeout time.Duration) command.Cli {
	return knownContainerCLI{Cli: dockerCLI, api: knownContainer{APIClient: dockerCLI.Client(), id: id, timeout: timeout, cli: dockerCLI}}
}

// knownContainerCLI is the docker CLI with a client that knows a container.
type knownContainerCLI struct {
	command.Cli
	api client.APIClient
}

func (c knownContainerCLI) Client() client.APIClient { return c.api }

// knownContainer answers the inspect of one container it knows exists, and
// bounds the calls docker exec and docker cp make.
type knownContainer struct {
	client.APIClient
	id      string
	timeout time.Duration
	cli     command.Cli // of the engine, for messages
}

func (k knownContainer) ContainerInspect(ctx context.Context, ref string) (container.InspectResponse, error) {
	if ref == k.id {
		return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: k.id}}, nil
	}
	return answered(ctx, k, "inspect container "+ref, func(ctx context.Context) (container.InspectResponse, error) {
		return k.APIClient.ContainerInspect(ctx, ref)
	})
}

func (k knownContainer) ContainerExecCreate(ctx context.Context, ctr string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	return answered(ctx, k, "create an exec in container "+ctr, func(ctx context.Context) (container.ExecCreateResponse, error) {
		return k.APIClient.ContainerExecCreate(ctx, ctr, o)
	})
}

func (k knownContainer) ContainerExecAttach(ctx context.Context, id string, o container.ExecAttachOptions) (types.HijackedResponse, error) {
	return answered(ctx, k, "attach to exec "+id, func(ctx context.Context) (types.HijackedResponse, error) {
		return k.APIClient.ContainerExecAttach(ctx, id, o)
	})
}

func (k knownContainer) ContainerExecStart(ctx context.Context, id string, o container.ExecStartOptions) error {
	_, err := answered(ctx, k, "start exec "+id, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, k.APIClient.ContainerExecStart(ctx, id, o)
	})
	return err
}

func (k knownContainer) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspect, error) {
	return answered(ctx, k, "inspect exec "+id, func(ctx context.Context) (container.ExecInspect, error) {
		return k.APIClient.ContainerExecInspect(ctx, id)
	})
}

func (k knownContainer) ContainerStatPath(ctx context.Context, ctr, p string) (container.PathStat, error) {
	return answered(ctx, k, "stat "+p+" in container "+ctr, func(ctx context.Context) (container.PathStat, error) {
		return k.APIClient.ContainerStatPath(ctx, ctr, p)
	})
}

func (k knownContainer) CopyFromContainer(ctx context.Context, ctr, p string) (io.ReadCloser, container.PathStat, error) {
	var stat container.PathStat
	rc, err := answered(ctx, k, "copy "+p+" from container "+ctr, func(ctx context.Context) (io.ReadCloser, error) {
		rc, st, err := k.APIClient.CopyFromContainer(ctx, ctr, p)
		stat = st
		return rc, err
	})
	if err != nil {
		return rc, stat, err
	}
	// What a tenant put there lands on this host: made safe first.
	return safeArchive(rc, k.cli.Err()), stat, nil
}

// CopyToContainer is docker cp's copy in: without --archive, what it
// copies becomes the container user's, which the agent can then change
// (docker cp keeps the owner the files have here: root's, for root's
// files). With --archive it keeps that owner, as docker cp's help says: the
// engine would give the files to the user the container was made with
// (CopyUIDGID), so the engine is not asked to.
func (k knownContainer) CopyToContainer(ctx context.Context, ctr, p string, content io.Reader, o container.CopyToContainerOptions) error {
	if o.CopyUIDGID { // --archive
		o.CopyUIDGID = false
	} else {
		if uid, gid, ok := k.userOf(ctx, ctr); ok && (uid != 0 || gid != 0) {
			content, o.CopyUIDGID = cpsafe.OwnedBy(content, uid, gid), true
		}
	}
	return k.APIClient.CopyToContainer(ctx, ctr, p, content, o)
}

// userOf is the uid and gid a container runs as (ok false when they cannot
// be told: docker cp's own ownership then).
func (k knownContainer) userOf(ctx context.Context, ctr string) (uid, gid int, ok bool) {
	c, err := answered(ctx, k, "inspect container "+ctr, func(ctx context.Context) (container.InspectResponse, error) {
		return k.APIClient.ContainerInspect(ctx, ctr)
	})
	if err != nil || c.Config == nil {
		return 0, 0, false
	}
	read := func(file string) []byte {
		rc, _, err := k.APIClient.CopyFromContainer(ctx, ctr, file)
		if err != nil {
			return nil
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		if _, err := tr.Next(); err != nil {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
		return b
	}
	if c.Config.User == "" {
		return 0, 0, true
	}
	return cpsafe.UserIDs(c.Config.User, read("/etc/passwd"), read("/etc/group"))
}

// answered runs fn, and gives up when k's engine has not answered within
// k.timeout: the deadline ends with the answer (a stream it returns may
// then take as long as it takes). A deadline that passes is a
// *sandbox.TimeoutError naming op, told for a person with the engine that
// did not answer (a node's, when it is not the context's).
func answered[T any](ctx context.Context, k knownContainer, op string, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(k.timeout, cancel)
	v, err := fn(cctx)
	if !timer.Stop() && ctx.Err() == nil {
		return v, engineErr(k.cli, &sandbox.TimeoutError{Op: op, After: k.timeout})
	}
	if err != nil {
		cancel()
	}
	return v, err
}

// verbOf is the command whose flags these are: exec or shell (which
// shares exec's code, not its --detach).
func verbOf(flags *pflag.FlagSet) string {
	if flags.Lookup("detach") != nil {
		return "exec"
	}
	return "shell"
}
