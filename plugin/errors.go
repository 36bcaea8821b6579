package plugin

import (
	"errors"
	"fmt"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// commandStart is when this process started: how long a command waited in
// all, for a person.
var commandStart = time.Now()

// engineError is a failure to reach the engine, told for a person: one
// line naming the context, its endpoint and what to look at. It wraps its
// cause, so errors.Is and errors.As see through it.
type engineError struct {
	msg string
	err error
}

func (e *engineError) Error() string { return e.msg }
func (e *engineError) Unwrap() error { return e.err }

// unreachable says whether err means that the engine cannot be reached or
// did not answer in time: the next call would fail the same way.
func unreachable(err error) bool {
	var ee *engineError
	return sandbox.Unreachable(err) || errors.As(err, &ee)
}

// engineErr tells a failure to reach the engine of dockerCLI for a person;
// any other error is returned as it is.
func engineErr(dockerCLI command.Cli, err error) error {
	var ee *engineError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	var te *sandbox.TimeoutError
	if errors.As(err, &te) {
		where := engineWhere(dockerCLI)
		op := te.Op
		if waited := time.Since(commandStart).Round(100 * time.Millisecond); waited > te.After+time.Second {
			// The docker CLI's own first ping of the engine, and earlier
			// calls, waited too: the command took longer than the call.
			op += fmt.Sprintf("; %s in all", waited)
		}
		return &engineError{err: err, msg: fmt.Sprintf("%s did not answer within %s (%s): is it hung? --api-timeout sets the limit", where, te.After, op)}
	}
	var ue *sandbox.UnreachableError
	if errors.As(err, &ue) {
		// (Where only when it is said: a look at an endpoint that cannot
		// be resolved prints the docker CLI's error once more.)
		return &engineError{err: err, msg: fmt.Sprintf("cannot connect to %s: %s", engineWhere(dockerCLI), unreachableCause(ue))}
	}
	return err
}

// engineWhere names the engine of dockerCLI for a person: its context
// and endpoint, or the endpoint a node's label names.
func engineWhere(dockerCLI command.Cli) string {
	if n, ok := dockerCLI.(nodeCLI); ok && n.context == "" {
		return fmt.Sprintf("the Docker engine at %s (a node's %s label)", n.endpoint.Host, sandbox.LabelNodeEngine)
	}
	return fmt.Sprintf("the Docker engine of context %q at %s", dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host)
}

// unreachableCause says, for a person, why the engine could not be reached.
func unreachableCause(ue *sandbox.UnreachableError) string {
	switch ue.Reason {
	case sandbox.UnreachableTLSNeeded:
		return "the engine speaks TLS and the context has no TLS settings (give it ca=, cert= and key=)"
	case sandbox.UnreachableUntrusted:
		return "its TLS certificate is not trusted (" + ue.Detail + "): check the context's CA"
	case sandbox.UnreachableClientCert:
		return "it refused the client's TLS certificate (" + ue.Detail + "): check the context's cert and key"
	case sandbox.UnreachableSSH:
		return "ssh failed: " + ue.Detail
	case sandbox.UnreachableDenied:
		return "permission denied (is this user allowed to use the engine's socket?)"
	}
	return "is it running?"
}

// usageError is bad input (an argument, a flag, a variable, a config.json
// value, a template): docker's commands exit 125 for it, before they ask
// anything of the engine.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	var se cli.StatusError
	if errors.As(err, &se) {
		return err
	}
	return cli.StatusError{StatusCode: 125, Status: err.Error(), Cause: err}
}
