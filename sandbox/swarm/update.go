package swarm

import (
	"context"
	"fmt"
	"maps"

	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// Update changes the limits of a workspace's service through a service
// update, which replaces its task (stop-first: Swarm has no live update of
// a task); its labels record the new limits, so drift compares with them.
// A running workspace is waited for until the task of the update runs.
func (s *Swarm) Update(ctx context.Context, w sandbox.Workspace, l sandbox.Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	for range maxAttempts {
		svc, err := s.service(ctx, w)
		if err != nil {
			return err
		}
		spec, hash, err := limitedSpec(svc, l)
		if err != nil {
			return err
		}
		if _, err := s.client.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarmtypes.ServiceUpdateOptions{}); err != nil {
			if enginemsg.SwarmRace(err) {
				continue
			}
			return fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
		}
		if replicas(svc) == 0 {
			return nil // stopped: its next start has the limits
		}
		_, err = s.waitRunning(ctx, svc.ID, svc.Spec.Name, func(t swarmtypes.Task) bool {
			return t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.Labels[sandbox.LabelConfigHash] == hash
		})
		return err
	}
	return fmt.Errorf("service %s: it kept changing; gave up", w.Name)
}

// limitedSpec is the spec of a service with the limits of l, and the hash
// its labels record.
func limitedSpec(svc *swarmtypes.Service, l sandbox.Limits) (swarmtypes.ServiceSpec, string, error) {
	have, ok := sandbox.RecordedSpec(svc.Spec.Labels)
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if !ok || cs == nil {
		return swarmtypes.ServiceSpec{}, "", fmt.Errorf("%w: service %s recorded no configuration: recreate it (ensure --recreate always) before changing its limits",
			sandbox.ErrNotSupported, svc.Spec.Name)
	}
	sp := l.Apply(have)
	spec := svc.Spec
	labels := maps.Clone(spec.Labels)
	labels[sandbox.LabelConfig], labels[sandbox.LabelConfigHash] = sp.JSON(), sp.Hash()
	spec.Labels = labels
	csCopy := *cs
	csCopy.Labels = maps.Clone(cs.Labels)
	csCopy.Labels[sandbox.LabelConfig], csCopy.Labels[sandbox.LabelConfigHash] = sp.JSON(), sp.Hash()
	spec.TaskTemplate.ContainerSpec = &csCopy
	spec.TaskTemplate.Resources = nil
	if sp.NanoCPUs > 0 || sp.Memory > 0 || sp.PidsLimit > 0 {
		var reservations *swarmtypes.Resources
		if svc.Spec.TaskTemplate.Resources != nil {
			reservations = svc.Spec.TaskTemplate.Resources.Reservations
		}
		spec.TaskTemplate.Resources = &swarmtypes.ResourceRequirements{
			Limits:       &swarmtypes.Limit{NanoCPUs: sp.NanoCPUs, MemoryBytes: sp.Memory, Pids: sp.PidsLimit},
			Reservations: reservations,
		}
	}
	return spec, sp.Hash(), nil
}
