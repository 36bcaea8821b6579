package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors that callers tell apart with errors.Is. The messages say what was
// found; what a user can do about it is the caller's to say (the CLI adds
// the commands and flags).
var (
	// ErrInvalidSubdir is wrapped by every error of [ValidateSubdir].
	ErrInvalidSubdir = errors.New("invalid workspace subdir")
	// ErrInvalidConfig is wrapped by the error of a configuration that can
	// never work (see [Config.Validate]), and of an option the
	// orchestrator cannot honour: nothing was asked of the engine.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrNotThisWorkspace is wrapped by the error of a container (or
	// service) that holds a workspace's name but is not that workspace's.
	ErrNotThisWorkspace = errors.New("the container is not this workspace's")
	// ErrOverlap is wrapped by the error of a workspace that would overlap
	// another: one directory holding the other's, or a shared directory
	// meeting a workspace.
	ErrOverlap = errors.New("workspaces must not overlap")
	// ErrNoSuchWorkspace is wrapped by the error of a reference that names
	// no workspace, or of a workspace that has no container (or service).
	ErrNoSuchWorkspace = errors.New("no such workspace")
	// ErrNothingToForget is wrapped by the error of Forget where the
	// configuration's root or volume holds no record of the workspace.
	ErrNothingToForget = errors.New("nothing to forget")
	// ErrStaleTask is wrapped by the error of a container that the engine
	// cannot start because its containerd still holds a task of it, as
	// after an engine restart. Replacing the container (RecreateAlways) or
	// removing it recovers; the workspace data is in the mounts.
	ErrStaleTask = errors.New("the engine's containerd still holds a task of this container, as after an engine restart")
	// ErrNotOnEngine is wrapped by the error of a volume or network that
	// the engine does not have: a Compose project on another engine.
	ErrNotOnEngine = errors.New("on this engine")
	// ErrNotRunning is wrapped by the error of a workspace that does not
	// run where it was looked for (exec, cp).
	ErrNotRunning = errors.New("the workspace is not running")

	// ErrProxyStopped: a workspace's egress proxy does not run (its rules
	// cannot be read or changed; the workspace may run); an ensure starts
	// it.
	ErrProxyStopped = errors.New("its egress proxy is stopped")
	// ErrProxyGone is wrapped by the error of an egress verb whose
	// workspace's egress proxy container is gone (removed by hand); a
	// restart of the workspace makes it again, with its rules.
	ErrProxyGone = errors.New("its egress proxy is gone")
	// ErrNotSupported is wrapped by the error of a verb or an option that
	// the orchestrator does not have (see [UnsupportedError]).
	ErrNotSupported = errors.New("not supported by this orchestrator")
	// ErrUnisolatedNetwork is wrapped by the refusal of a network that is
	// the host's or another container's (see
	// [Config.AllowUnisolatedNetwork]).
	ErrUnisolatedNetwork = errors.New("the network is not isolated")
	// ErrOrchestrated is wrapped by the refusal to make a container of a
	// workspace that an orchestrator runs on the same engine (as a task of
	// a service): two containers of one workspace.
	ErrOrchestrated = errors.New("run by an orchestrator")
	// ErrNotManager: the engine is not a manager of the orchestrator the
	// configuration asks for.
	ErrNotManager = errors.New("the engine cannot manage workspaces as services")
	// ErrNodeGone: the node that holds a pinned workspace's data left.
	ErrNodeGone = errors.New("the node of the workspace's data is no longer there")
	// ErrNodeEngine: the engine of a node cannot be reached through what
	// names it (see [NodeEngineError]).
	ErrNodeEngine = errors.New("the engine of a node cannot be reached")
)

// RecordedError is the refusal of a workspace that would overlap another
// known only by its record (its container removed): Subdir is that one,
// which Forget can take back once it is gone for good.
type RecordedError struct {
	Subdir string
	Err    error
}

func (e *RecordedError) Error() string { return e.Err.Error() }
func (e *RecordedError) Unwrap() error { return e.Err }

// WorkspaceError is the error of an operation on one workspace.
type WorkspaceError struct {
	Subdir string
	// Op is what was done: "ensure", "stop", "remove", "start", "prepare"…
	Op  string
	Err error
}

func (e *WorkspaceError) Error() string {
	return fmt.Sprintf("workspace %q: %v", e.Subdir, e.Err)
}

func (e *WorkspaceError) Unwrap() error { return e.Err }

// WorkspaceErr is the error of op on the workspace subdir: err, named with
// the workspace once (an error that names it already is returned as it is;
// nil stays nil).
func WorkspaceErr(subdir, op string, err error) error {
	var we *WorkspaceError
	if err == nil || errors.As(err, &we) && we.Subdir == subdir {
		return err
	}
	return &WorkspaceError{Subdir: subdir, Op: op, Err: err}
}

// TimeoutError is the error of an engine call that got no answer in time.
type TimeoutError struct {
	Op    string // what was asked, e.g. "inspect container gws-a"
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the engine did not answer within %s (%s)", e.After, e.Op)
}

// Is makes a TimeoutError match context.DeadlineExceeded too.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// UnreachableReason says why an engine could not be reached.
type UnreachableReason string

// Why an engine could not be reached.
const (
	UnreachableDown       UnreachableReason = "down"        // nothing answers at the endpoint
	UnreachableTLSNeeded  UnreachableReason = "tls-needed"  // the engine speaks TLS, the client not
	UnreachableUntrusted  UnreachableReason = "untrusted"   // the engine's certificate is not trusted
	UnreachableClientCert UnreachableReason = "client-cert" // the engine refused the client's certificate
	UnreachableSSH        UnreachableReason = "ssh"         // the ssh connection failed
	UnreachableDenied     UnreachableReason = "denied"      // permission denied on the socket
)

// UnreachableError is the error of an engine that could not be reached.
type UnreachableError struct {
	Reason UnreachableReason
	// Detail is the part of the client's message that tells more (the TLS
	// or ssh error).
	Detail string
	Err    error
}

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Unreachable says whether err means that the engine could not be reached,
// or did not answer in time: a next call would fail the same way.
func Unreachable(err error) bool {
	var te *TimeoutError
	var ue *UnreachableError
	return errors.As(err, &te) || errors.As(err, &ue)
}

// UnsupportedError is the error of a verb or an option that an
// orchestrator does not have.
type UnsupportedError struct {
	Orchestrator string // its Traits.Name
	What         string // "restart", "a stop signal", …
	Why          string // optional
}

func (e *UnsupportedError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%s is not supported on %s: %s", e.What, e.Orchestrator, e.Why)
	}
	return fmt.Sprintf("%s is not supported on %s", e.What, e.Orchestrator)
}

// Is makes an UnsupportedError match ErrNotSupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrNotSupported }

// NodeEngineError is the error of a node whose own engine cannot be
// reached: its label names none, names another node's, or does not answer.
type NodeEngineError struct {
	Node  string // its name
	Label string // what names its engine ("" when nothing does)
	Err   error
}

func (e *NodeEngineError) Error() string {
	if e.Label == "" {
		return fmt.Sprintf("node %s: %v", e.Node, e.Err)
	}
	return fmt.Sprintf("engine of node %s (%s=%s): %v", e.Node, LabelNodeEngine, e.Label, e.Err)
}

func (e *NodeEngineError) Unwrap() []error { return []error{ErrNodeEngine, e.Err} }

// ProjectError is a container that a Compose project did not make, found
// where the project's workspace would be: it is not taken over. Owner is
// the project that made it ("" for none). It matches ErrNotThisWorkspace.
type ProjectError struct {
	Container, Project, Owner string
	// Service is the service that would run in it (a provider's call);
	// OwnerService the service whose provider made it ("" for none: made
	// by an ensure of the project).
	Service, OwnerService string
	// Replace: an ensure outside the project's services (Project "", or
	// no Service) would have replaced a container its service made.
	Replace bool
}

func (e *ProjectError) Error() string {
	switch {
	case e.Replace && e.Project == "":
		return fmt.Sprintf("container %s was made for Compose project %q: an ensure outside it does not replace it; nothing was changed", e.Container, e.Owner)
	case e.Replace:
		return fmt.Sprintf("container %s was made by service %q of Compose project %q: an ensure outside the service does not replace it; nothing was changed",
			e.Container, e.OwnerService, e.Owner)
	case e.Service != "" && e.Owner == e.Project && e.OwnerService == "":
		return fmt.Sprintf("%v: container %s was made for Compose project %q outside Compose (by docker workspace ensure), not by its service %q; nothing was changed",
			ErrNotThisWorkspace, e.Container, e.Project, e.Service)
	case e.Service != "" && e.Owner == e.Project:
		return fmt.Sprintf("%v: container %s belongs to service %q of Compose project %q, not to %q; nothing was changed",
			ErrNotThisWorkspace, e.Container, e.OwnerService, e.Project, e.Service)
	}
	if e.Owner != "" {
		return fmt.Sprintf("%v: container %s belongs to Compose project %q, not %q; nothing was changed", ErrNotThisWorkspace, e.Container, e.Owner, e.Project)
	}
	return fmt.Sprintf("%v: container %s was not made for Compose project %q (it belongs to no project); nothing was changed", ErrNotThisWorkspace, e.Container, e.Project)
}

// Is makes a ProjectError match ErrNotThisWorkspace.
func (e *ProjectError) Is(target error) bool { return target == ErrNotThisWorkspace }
