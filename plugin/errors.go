package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/client"
)

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
	var te *sandbox.TimeoutError
	var ee *engineError
	_, isConn := connectionCause(err)
	return errors.As(err, &te) || errors.As(err, &ee) || isConn
}

// engineErr tells a failure to reach the engine of dockerCLI for a person;
// any other error is returned as it is.
func engineErr(dockerCLI command.Cli, err error) error {
	var ee *engineError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	where := fmt.Sprintf("the Docker engine of context %q at %s", dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host)
	var te *sandbox.TimeoutError
	if errors.As(err, &te) {
		return &engineError{err: err, msg: fmt.Sprintf("%s did not answer within %s (%s): is it hung? --api-timeout sets the limit", where, te.After, te.Op)}
	}
	if cause, ok := connectionCause(err); ok {
		return &engineError{err: err, msg: fmt.Sprintf("cannot connect to %s: %s", where, cause)}
	}
	return err
}

// connectionCause says, for a person, why the engine could not be reached.
func connectionCause(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	if strings.Contains(msg, "Client sent an HTTP request to an HTTPS server") {
		return "the engine speaks TLS and the context has no TLS settings (give it ca=, cert= and key=)", true
	}
	if !client.IsErrConnectionFailed(err) {
		return "", false
	}
	after := func(marker string) string {
		_, rest, _ := strings.Cut(msg, marker)
		return strings.TrimSpace(marker + rest)
	}
	switch {
	case strings.Contains(msg, "x509:"):
		return "its TLS certificate is not trusted (" + after("x509:") + "): check the context's CA", true
	case strings.Contains(msg, "remote error: tls:"):
		return "it refused the client's TLS certificate (" + after("tls:") + "): check the context's cert and key", true
	case strings.Contains(msg, "stderr="):
		_, stderr, _ := strings.Cut(msg, "stderr=")
		return "ssh failed: " + strings.TrimSpace(stderr), true
	case strings.Contains(msg, "permission denied"):
		return "permission denied (is this user allowed to use the engine's socket?)", true
	}
	return "is it running?", true
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

// withHints adds to an error what a user of this command can do about it.
func withHints(err error, subdir string) error {
	if errors.Is(err, sandbox.ErrStaleTask) {
		return fmt.Errorf("%w: `docker workspace ensure --recreate always %s` or `docker workspace rm -f %s` recovers", err, subdir, subdir)
	}
	return err
}
