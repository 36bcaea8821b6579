package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// The control socket, in the state directory: processes of the proxy's
// container (an exec of the proxy's own binary) change the policy in
// force through it; nothing else reaches that directory.
const controlSocket = "control.sock"

// Request is a change of the policy, or a question for it.
type Request struct {
	Op    string   `json:"op"` // get, allow, deny
	Rules []string `json:"rules,omitempty"`
}

// Reply is the policy in force after a request, or why it failed.
type Reply struct {
	Policy egress.Policy `json:"policy"`
	Error  string        `json:"error,omitempty"`
}

func (s *Server) listenControl(ctx context.Context) (net.Listener, error) {
	path := filepath.Join(s.cfg.State, controlSocket)
	_ = os.Remove(path)
	var lc net.ListenConfig
	return lc.Listen(ctx, "unix", path)
}

func (s *Server) control(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req Request
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		return
	}
	reply := Reply{}
	if err := s.apply(req); err != nil {
		reply.Error = err.Error()
	}
	reply.Policy = s.Policy()
	_ = json.NewEncoder(conn).Encode(reply)
}

func (s *Server) apply(req Request) error {
	switch req.Op {
	case "get":
		return nil
	case "allow", "deny":
		rules, err := egress.ParseRules(req.Rules)
		if err != nil {
			return err
		}
		return s.SetPolicy(s.Policy().With(req.Op == "allow", rules))
	}
	return fmt.Errorf("unknown operation %q", req.Op)
}

// Control sends req to the proxy whose state directory is state.
func Control(ctx context.Context, state string, req Request) (egress.Policy, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(state, controlSocket))
	if err != nil {
		return egress.Policy{}, fmt.Errorf("the proxy does not answer: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return egress.Policy{}, err
	}
	var reply Reply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return egress.Policy{}, err
	}
	if reply.Error != "" {
		return reply.Policy, errors.New(reply.Error)
	}
	return reply.Policy, nil
}
