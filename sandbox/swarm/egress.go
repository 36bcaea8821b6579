package swarm

import (
	"context"
	"fmt"
	"io"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Egress tells how a workspace's service reaches the network. A Swarm
// holds no egress proxy (the allowlist and public modes are refused):
// there are no rules to read or change.
func (s *Swarm) Egress(_ context.Context, w sandbox.Workspace, change *sandbox.EgressChange) (sandbox.EgressState, error) {
	spec, _ := sandbox.RecordedSpec(w.Labels)
	st := sandbox.EgressState{Mode: spec.Egress, Network: spec.Network}
	if st.Mode == "" {
		st.Mode = egress.ModeOpen
	}
	if change != nil {
		return st, &sandbox.UnsupportedError{Orchestrator: "swarm", What: "egress rules"}
	}
	return st, nil
}

// EgressLog is refused: a Swarm holds no egress proxy.
func (s *Swarm) EgressLog(context.Context, sandbox.Workspace, sandbox.EgressLogOptions) (io.ReadCloser, error) {
	return nil, fmt.Errorf("%w", &sandbox.UnsupportedError{Orchestrator: "swarm", What: "the egress log"})
}
