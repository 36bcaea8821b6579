// Package enginemsg is the one place where code decides by the words of an
// engine's (or the Docker client's) error message, for the conditions that
// have no error class of their own. Each function names the condition; the
// test holds the messages, as each Engine version writes them.
package enginemsg

import (
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

func has(err error, words ...string) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, w := range words {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// StaleTask says: a start refused because containerd still holds a task of the
// container (after an engine restart).
func StaleTask(err error) bool { return has(err, "already exists") }

// ExtractRace says: an archive extracted into a container met a directory that
// another extraction made (mkdir: file exists), or a file it replaced
// (chown: no such file or directory).
func ExtractRace(err error) bool { return has(err, "file exists", "no such file or directory") }

// NotManager says: a Swarm call to an engine that is no manager of a Swarm.
func NotManager(err error) bool { return has(err, "not a swarm manager") }

// SwarmRace says: a Swarm object changed (out of sequence), or was made by
// another caller first (name conflict), meanwhile.
func SwarmRace(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) ||
		has(err, "update out of sequence", "name conflicts with an existing object")
}

// MissingBindSource says: a container create refused because a bind mount's
// source does not exist.
func MissingBindSource(err error) bool {
	return has(err, "bind source path does not exist", "no such file or directory")
}

// Unreachable says why the engine could not be reached, as a reason of
// sandbox.UnreachableReason's words and the part of the message that tells
// more; ok is false for any other error.
func Unreachable(err error) (reason, detail string, ok bool) {
	if err == nil {
		return "", "", false
	}
	msg := err.Error()
	if strings.Contains(msg, "Client sent an HTTP request to an HTTPS server") {
		return "tls-needed", "", true
	}
	if !client.IsErrConnectionFailed(err) {
		return "", "", false
	}
	after := func(marker string) string {
		_, rest, _ := strings.Cut(msg, marker)
		return strings.TrimSpace(marker + rest)
	}
	switch {
	case strings.Contains(msg, "x509:"):
		return "untrusted", after("x509:"), true
	case strings.Contains(msg, "remote error: tls:"):
		return "client-cert", after("tls:"), true
	case strings.Contains(msg, "stderr="):
		_, stderr, _ := strings.Cut(msg, "stderr=")
		return "ssh", strings.TrimSpace(stderr), true
	case strings.Contains(msg, "permission denied"):
		return "denied", "", true
	}
	return "down", "", true
}
