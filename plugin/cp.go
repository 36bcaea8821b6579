package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	clicontainer "github.com/docker/cli/cli/command/container"
	"github.com/docker/docker/api/types/container"
	"github.com/moby/go-archive"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type cpOptions struct {
	source, destination string
	archive, followLink bool
	quiet               bool
	flags               *pflag.FlagSet
}

func newCopyCommand(dockerCLI command.Cli) *cobra.Command {
	var opts cpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] WORKSPACE:SRC_PATH DEST_PATH|-\n\tdocker workspace cp [OPTIONS] SRC_PATH|- WORKSPACE:DEST_PATH",
		Short: "Copy files/folders between the sandbox container of a workspace and the local filesystem",
		Long: "Copy files/folders between the sandbox container of a workspace and the local filesystem,\n" +
			"as docker cp does (\"-\" for a tar stream). WORKSPACE is a subdir, a container name or ID;\n" +
			"a relative container path is relative to " + sandbox.WorkspaceTarget + ". Paths in the\n" +
			"container are resolved in the container: a symlink there leads to the container's own files,\n" +
			"never to this machine's. A symlink copied out stays a symlink, whose target here names a path\n" +
			"of this machine: with -L the file it points to in the container is copied instead. A paused\n" +
			"or stopped workspace is woken first, with ensure's configuration, as exec does.\n\n" + configFlagsNote,
		Args: cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.source, opts.destination, opts.flags = args[0], args[1], cmd.Flags()
			return runCopy(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.archive, "archive", "a", false, "Archive mode (copy all uid/gid information; without it, what is copied in is the container user's)")
	flags.BoolVarP(&opts.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	addConfigFlags(flags)
	hideConfigFlags(flags)
	return cmd
}

// splitWorkspaceArg splits WORKSPACE:PATH, as docker cp splits its
// CONTAINER:PATH (a local path starts with / or ., or holds no colon).
func splitWorkspaceArg(arg string) (ref, p string, ok bool) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") || arg == "-" {
		return "", arg, false
	}
	ref, p, ok = strings.Cut(arg, ":")
	if !ok {
		return "", arg, false
	}
	return ref, p, true
}

func runCopy(ctx context.Context, dockerCLI command.Cli, opts *cpOptions) error {
	srcRef, srcPath, fromWS := splitWorkspaceArg(opts.source)
	dstRef, dstPath, toWS := splitWorkspaceArg(opts.destination)
	ref, p, err := copyRef(srcRef, dstRef, fromWS, toWS, &srcPath, &dstPath)
	if err != nil {
		return err
	}
	if !path.IsAbs(*p) {
		*p = path.Join(sandbox.WorkspaceTarget, *p) + trailing(*p)
	}
	if err := checkLocalSide(dockerCLI, opts, fromWS, srcPath); err != nil {
		return err
	}
	cli, id, err := copyTarget(ctx, dockerCLI, opts, ref)
	if err != nil {
		return err
	}
	src, dst := srcPath, dstPath
	if fromWS {
		src = id + ":" + srcPath
	} else {
		dst = id + ":" + dstPath
	}
	// docker cp itself, over the container this command found.
	cp := clicontainer.NewCopyCommand(cli) //nolint:staticcheck // docker cp itself, of the docker CLI this module pins (v28.5)
	args := []string{src, dst}
	for flag, set := range map[string]bool{"--archive": opts.archive, "--follow-link": opts.followLink, "--quiet": opts.quiet} {
		if set {
			args = append([]string{flag}, args...)
		}
	}
	cp.SetArgs(args)
	cp.SetOut(cli.Out())
	cp.SetErr(cli.Err())
	cp.SilenceErrors, cp.SilenceUsage = true, true
	// docker cp's writer logs its side of a failed copy (a closed pipe)
	// after the error that says why: the error is enough.
	logrus.SetLevel(logrus.FatalLevel)
	err = cp.ExecuteContext(ctx)
	if errors.Is(err, archive.ErrDirNotExists) { // a destination "DIR/" that is not there
		if fromWS {
			return fmt.Errorf("no such directory here: %s", strings.TrimSuffix(dst, "/"))
		}
		dir := strings.TrimSuffix(*p, "/")
		return fmt.Errorf("no such directory in workspace %s: %s (make it first: docker workspace exec %s mkdir -p %s)", ref, dir, ref, dir)
	}
	if cerrdefs.IsNotFound(err) {
		// The engine names the container by the ID this command gave it:
		// say the workspace.
		if _, ierr := cli.Client().ContainerInspect(ctx, id); cerrdefs.IsNotFound(ierr) {
			return fmt.Errorf("%w: %s: its container was removed meanwhile", sandbox.ErrNoSuchWorkspace, ref)
		}
		return fmt.Errorf("no such file or directory in workspace %s: %s", ref, *p)
	}
	return err
}

// copyRef is the workspace of a copy and its path there (to make
// absolute), refusing a copy of no workspace or of two.
func copyRef(srcRef, dstRef string, fromWS, toWS bool, srcPath, dstPath *string) (string, *string, error) {
	switch {
	case fromWS && toWS:
		return "", nil, usageError(errors.New("copying between workspaces is not supported"))
	case !fromWS && !toWS:
		return "", nil, usageError(errors.New("one of the paths must be WORKSPACE:PATH"))
	}
	ref, p := srcRef, srcPath
	if toWS {
		ref, p = dstRef, dstPath
	}
	return ref, p, usageError(sandbox.ValidateRef(ref))
}

// checkLocalSide checks what can be told of this machine's side before
// the workspace is looked for (and woken): a source that is not here
// changes nothing. Out of a workspace, -a is said to be ignored.
func checkLocalSide(dockerCLI command.Cli, opts *cpOptions, fromWS bool, src string) error {
	if fromWS {
		if opts.archive {
			_, _ = fmt.Fprintln(dockerCLI.Err(), "docker workspace cp: -a is ignored out of a workspace: what lands here is yours, "+
				"with no setuid or setgid bit (see docker workspace cp --help)")
		}
		return nil
	}
	if src == "-" {
		return nil
	}
	_, err := os.Lstat(src)
	return err
}

// copyTarget is the container of a workspace and the docker CLI of its
// engine (a node's, on an orchestrator of nodes), for docker cp's code.
func copyTarget(ctx context.Context, dockerCLI command.Cli, opts *cpOptions, ref string) (command.Cli, string, error) {
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return nil, "", err
	}
	w, err := find(ctx, b, ref, false, sandbox.Config{})
	if errors.Is(err, sandbox.ErrNoSuchWorkspace) {
		return nil, "", fmt.Errorf("%w: ensure it first", err)
	}
	if err != nil {
		return nil, "", err
	}
	if w.Subdir == "" {
		// No labels of ours: made by the original module, or by hand, with
		// mounts nothing here checked (new-user pass 8: one mounted another
		// workspace's directory). ensure checks and adopts the module's.
		return nil, "", fmt.Errorf("%s %s records no workspace (made by the original module, or by hand): "+
			"cp acts on workspaces only; `docker workspace ensure SUBDIR` adopts one of the original module's", b.Traits().Unit, w.Name)
	}
	var cli command.Cli
	var loc sandbox.Location
	wake, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return nil, "", err
	}
	asleep := w.State != string(container.StateRunning) && w.Subdir != ""
	if asleep && !wake {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not waking workspace %q (it is %s)\n", disabledBy(dockerCLI, opts.flags), ref, w.State)
	}
	if asleep && wake {
		// Paused or stopped (the reaper's): woken first, as exec does,
		// with the configuration in force.
		cfg, err := commandConfig(ctx, b, opts.flags, "")
		if err != nil {
			return nil, "", err
		}
		cli, loc, err = locate(ctx, b, w.Subdir, true, cfg, "")
		if err != nil {
			return nil, "", err
		}
	} else {
		if loc, err = b.Locate(ctx, w); err != nil {
			return nil, "", engineErr(b.dockerCLI, hints(err, ref))
		}
		if cli, err = b.engineCLI(loc); err != nil {
			return nil, "", err
		}
	}
	return knownCLI(cli, loc.ContainerID, b.timeout), loc.ContainerID, nil
}

// trailing keeps the meaning docker cp gives a path's trailing "/" or "/.".
func trailing(p string) string {
	switch {
	case strings.HasSuffix(p, "/."):
		return "/."
	case strings.HasSuffix(p, "/"):
		return "/"
	}
	return ""
}
