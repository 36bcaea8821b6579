package enginemsg

import (
	"errors"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"gotest.tools/v3/assert"
)

// The messages each Engine version writes, as seen on Engine 20.10.24 (the
// legacy engine and Swarm node sw4 of scripts/engines.sh) and 28.5.2 (the
// modern engine, and the Swarm's manager), through the Docker client.
func TestMessages(t *testing.T) {
	daemon := func(msg string) error { return errors.New("Error response from daemon: " + msg) }
	for _, tc := range []struct {
		engine string
		err    error
		is     func(error) bool
		want   bool
	}{
		{"28.5", daemon(`invalid mount config for type "bind": bind source path does not exist: /nonexist`), MissingBindSource, true},
		{"20.10", daemon(`invalid mount config for type "bind": bind source path does not exist: /nonexist`), MissingBindSource, true},
		{"28.5", daemon("No such image: x"), MissingBindSource, false},
		{"28.5", daemon(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`), NotManager, true},
		{"20.10", daemon(`This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.`), NotManager, true},
		{"28.5", cerrdefs.ErrConflict.WithMessage("rpc error: code = AlreadyExists desc = name conflicts with an existing object: service gws-a already exists"), SwarmRace, true},
		{"28.5", daemon("rpc error: code = Unknown desc = update out of sequence"), SwarmRace, true},
		{"28.5", cerrdefs.ErrNotFound.WithMessage("service x not found"), SwarmRace, true},
		{"28.5", daemon("rpc error: code = InvalidArgument desc = bad spec"), SwarmRace, false},
		{"28.5", daemon(`failed to create task for container: failed to create shim task: task abc already exists: unknown`), StaleTask, true},
		{"20.10", daemon(`OCI runtime create failed: container with id exists: abc: unknown`), StaleTask, false},
		{"28.5", daemon(`Error processing tar file(exit status 1): mkdir /workspaces/a: file exists`), ExtractRace, true},
		{"28.5", daemon(`Error processing tar file(exit status 1): lchown /workspaces/.docker-workspace/workspaces/x: no such file or directory`), ExtractRace, true},
		{"28.5", daemon(`Error processing tar file(exit status 1): permission denied`), ExtractRace, false},
	} {
		assert.Check(t, tc.is(tc.err) == tc.want, "%s: %v", tc.engine, tc.err)
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err            error
		reason, detail string
	}{
		{client.ErrorConnectionFailed("unix:///nowhere.sock"), "down", ""},
		{errors.New("Client sent an HTTP request to an HTTPS server."), "tls-needed", ""},
		{errors.Join(client.ErrorConnectionFailed("tcp://h:2376"), errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")), "untrusted", "x509: certificate signed by unknown authority"},
		{errors.Join(client.ErrorConnectionFailed("tcp://h:2376"), errors.New("remote error: tls: bad certificate")), "client-cert", "tls: bad certificate"},
		{errors.Join(client.ErrorConnectionFailed("ssh://h"), errors.New("commandconn: exited: stderr=Permission denied (publickey).")), "ssh", "Permission denied (publickey)."},
		{errors.Join(client.ErrorConnectionFailed("unix:///var/run/docker.sock"), errors.New("dial unix /var/run/docker.sock: connect: permission denied")), "denied", ""},
	} {
		reason, detail, ok := Unreachable(tc.err)
		assert.Check(t, ok, "%v", tc.err)
		assert.Check(t, reason == tc.reason && detail == tc.detail, "%v: %s %q", tc.err, reason, detail)
	}
	_, _, ok := Unreachable(errors.New("No such container: x"))
	assert.Check(t, !ok)
}
