package swarm

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
)

// openNetwork is the network of the Swarm's open mode: a bridge of each
// node made from its configuration network (engine.OpenConfigNetwork), on
// which a node's tasks cannot reach each other. (A Swarm-scoped bridge made
// with options of its own does not apply them: observed on Engine 28.5.)
const openNetwork = "gws-open" // a Swarm network's name is a DNS name component: no dots

// openNetworkReady makes sure every node that takes workspaces has the
// configuration network, and the Swarm the open network made from it.
func (s *Swarm) openNetworkReady(ctx context.Context, nodes []swarmtypes.Node) error {
	s.mu.Lock()
	done := s.openReady
	s.mu.Unlock()
	if done {
		return nil
	}
	for _, n := range nodes {
		if !canSubpath(n) || n.Spec.Labels[sandbox.LabelNodeEngine] == "" {
			continue // takes no workspace
		}
		m, err := s.nodeManager(ctx, n)
		if err != nil {
			return err
		}
		if err := m.MakeOpenConfig(ctx); err != nil {
			return fmt.Errorf("on node %s: %w", nodeName(n), err)
		}
	}
	if err := s.openNetwork(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.openReady = true
	s.mu.Unlock()
	return nil
}

func (s *Swarm) openNetwork(ctx context.Context) error {
	for range 2 {
		n, err := s.client.NetworkInspect(ctx, openNetwork, network.InspectOptions{})
		if err == nil {
			// (A network made from a configuration network takes no labels
			// of its own: what it is made from tells it is this tool's.)
			if n.Scope != "swarm" || n.ConfigFrom.Network != engine.OpenConfigNetwork {
				return fmt.Errorf("%w: network %s was not made by this tool (a Swarm network made from %s): its tasks could reach each other",
					sandbox.ErrNotSupported, openNetwork, engine.OpenConfigNetwork)
			}
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect network %s: %w", openNetwork, err)
		}
		_, err = s.client.NetworkCreate(ctx, openNetwork, network.CreateOptions{
			Driver: "bridge", Scope: "swarm", ConfigFrom: &network.ConfigReference{Network: engine.OpenConfigNetwork},
		})
		if err == nil {
			return nil
		}
		if !cerrdefs.IsConflict(err) {
			return fmt.Errorf("create network %s: %w", openNetwork, err)
		}
	}
	return fmt.Errorf("network %s: made and removed meanwhile; try again", openNetwork)
}
