package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// Open mode on a Swarm: each workspace's service alone on an overlay
// network of its own; its task reaches out through the node's
// docker_gwbridge, on which containers cannot reach each other. (A
// Swarm-scoped bridge with inter-container traffic off would need a
// configuration network on each node, and a node's restart leaves that
// network's attachment behind: the task cannot come back. Observed on
// Engine 28.5.)

// networkName is the network of the service of subdir: a Swarm network's
// name is a DNS label (no dots, 63 characters).
func networkName(subdir string) string {
	name := "gwsnet-" + strings.TrimPrefix(serviceName(subdir), "gws-")
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(subdir))
		name = name[:50] + "-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// workspaceNetwork makes sure the workspace's overlay network exists, made
// by this tool for subdir; one of that name made otherwise is refused.
func (s *Swarm) workspaceNetwork(ctx context.Context, subdir string) (string, error) {
	name := networkName(subdir)
	for attempt := range 8 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond) // a concurrent create's, landing
		}
		n, err := s.client.NetworkInspect(ctx, name, network.InspectOptions{})
		if err == nil && n.Driver == "" && n.Labels[sandbox.LabelEgressOf] == subdir {
			// Made by a concurrent ensure, not yet allocated: Swarm says
			// its driver once the allocator has run.
			continue
		}
		if err == nil {
			if n.Driver != "overlay" || n.Labels[sandbox.LabelEgress] != "network" || n.Labels[sandbox.LabelEgressOf] != subdir {
				return "", fmt.Errorf("%w: network %s is not the one this tool makes for workspace %q (an overlay network labelled %s=%s)",
					sandbox.ErrNotSupported, name, subdir, sandbox.LabelEgressOf, subdir)
			}
			return name, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("inspect network %s: %w", name, err)
		}
		_, err = s.client.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "overlay", Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: subdir},
		})
		if err == nil {
			return name, nil
		}
		if !cerrdefs.IsConflict(err) && !enginemsg.SwarmRace(err) {
			// Swarm says a concurrent create's name conflict as an unknown
			// error: looked at again, and used.
			return "", fmt.Errorf("create network %s: %w", name, err)
		}
	}
	return "", fmt.Errorf("network %s: made and removed meanwhile; try again", name)
}

// ownNetwork makes the workspace's network of its own, unless it is put on
// the operator's.
func (s *Swarm) ownNetwork(ctx context.Context, subdir string, cfg sandbox.Config) error {
	if cfg.Network != "" {
		return nil
	}
	_, err := s.workspaceNetwork(ctx, subdir)
	return err
}

// dropNetworkOnFailure drops the network of a create that was refused (an
// overlap) or failed (new-user pass 13: it stayed): a racer that looks
// again (errRace) may use it.
func (s *Swarm) dropNetworkOnFailure(ctx context.Context, subdir string, cfg sandbox.Config, err *error) {
	if *err != nil && !errors.Is(*err, errRace) && cfg.Network == "" {
		s.dropNetwork(context.WithoutCancel(ctx), subdir)
	}
}

// dropNetwork removes the workspace's network, once, if nothing uses it
// (a service that does makes the engine refuse: it stays).
func (s *Swarm) dropNetwork(ctx context.Context, subdir string) {
	n, err := s.client.NetworkInspect(ctx, networkName(subdir), network.InspectOptions{})
	if err == nil && n.Labels[sandbox.LabelEgressOf] == subdir {
		_ = s.client.NetworkRemove(ctx, n.ID)
	}
}

// removeNetwork removes the workspace's network once its service is gone
// (best effort: the task's endpoint may take a moment to leave it).
func (s *Swarm) removeNetwork(ctx context.Context, subdir string) {
	name := networkName(subdir)
	for range 10 {
		n, err := s.client.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil || n.Labels[sandbox.LabelEgressOf] != subdir {
			return
		}
		if err := s.client.NetworkRemove(ctx, n.ID); err == nil || cerrdefs.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}
