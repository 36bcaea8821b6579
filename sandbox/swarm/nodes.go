package swarm

// The nodes of a Swarm: which can take a workspace, their labels, the
// engine of each (through which a workspace's directory is made and its
// volumes are checked), and where a new workspace goes.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/versions"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// labelSubpathNodes gives labelSubpathNode to the nodes whose Engine
// applies a volume subpath in a task, and takes it from the others.
func (s *Swarm) labelSubpathNodes(ctx context.Context) error {
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes {
		// A node whose engine cannot be reached cannot have its volumes
		// checked: it gets no workspace either.
		want := canSubpath(n) && n.Spec.Labels[sandbox.LabelNodeEngine] != ""
		if err := s.setNodeLabel(ctx, n, labelSubpathNode, want); err != nil {
			return err
		}
	}
	return nil
}

// setNodeLabel puts label=true on a node, or takes it away; a node changed
// meanwhile is read again.
func (s *Swarm) setNodeLabel(ctx context.Context, n swarmtypes.Node, label string, want bool) error {
	for attempt := 0; ; attempt++ {
		if (n.Spec.Labels[label] == "true") == want {
			return nil
		}
		spec := n.Spec
		labels := map[string]string{}
		for k, v := range n.Spec.Labels {
			labels[k] = v
		}
		if want {
			labels[label] = "true"
		} else {
			delete(labels, label)
		}
		spec.Labels = labels
		err := s.client.NodeUpdate(ctx, n.ID, n.Version, spec)
		if err == nil {
			return nil
		}
		if !enginemsg.SwarmRace(err) || attempt == 3 {
			return fmt.Errorf("label node %s %s: %w", nodeName(n), label, err)
		}
		nodes, lerr := s.client.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", n.ID))})
		if lerr != nil || len(nodes) == 0 {
			return fmt.Errorf("label node %s %s: %w", nodeName(n), label, err)
		}
		n = nodes[0]
	}
}

// storageLabel is the node label that says a node's volumes were checked
// for the storage of a shared configuration (checkNodes); its workspaces
// run only on such nodes, so that a node that comes later (with a volume
// of the name made otherwise, say) gets none before it was checked.
func storageLabel(cfg sandbox.Config) string {
	sum := sha256.Sum256([]byte(claims.WorkspaceStorage(cfg) + "\x00" + claims.SharedStorage(cfg) + "\x00" + cfg.WorkspaceVolume + "\x00" + cfg.SharedVolume))
	return sandbox.LabelPrefix + "storage." + hex.EncodeToString(sum[:6])
}

// canSubpath says whether a node's engine applies a volume subpath in a task.
func canSubpath(n swarmtypes.Node) bool {
	v := n.Description.Engine.EngineVersion
	if i := strings.IndexAny(v, "+-~"); i >= 0 {
		v = v[:i]
	}
	return v != "" && !versions.LessThan(v, minSubpathEngine)
}

// nodeName is the name of a node by its ID (the ID when it cannot be told).
func (s *Swarm) nodeName(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	nodes, err := s.client.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", id))})
	if err == nil {
		for _, n := range nodes {
			if n.ID == id {
				return nodeName(n)
			}
		}
	}
	return id
}

// nodeName is what a node is called: its hostname, else its ID.
func nodeName(n swarmtypes.Node) string {
	if n.Description.Hostname != "" {
		return n.Description.Hostname
	}
	return n.ID
}

// prepare makes the directory and record of a workspace in its volume on
// the node pin, through that node's engine, with the checks of the engine's
// own Ensure and those of its volumes.
func (s *Swarm) prepare(ctx context.Context, subdir string, cfg sandbox.Config, pin string, nodes []swarmtypes.Node) (swarmtypes.Node, []mount.Mount, error) {
	var node *swarmtypes.Node
	for i := range nodes {
		if nodes[i].ID == pin {
			node = &nodes[i]
		}
	}
	if node == nil {
		return swarmtypes.Node{}, nil, fmt.Errorf("%w (node %s, Swarm config %s): its data is there; "+
			"removing the claim makes it again elsewhere, empty", sandbox.ErrNodeGone, pin, claimName(claims.WorkspaceStorage(cfg), subdir))
	}
	m, err := s.nodeManager(ctx, *node)
	if err != nil {
		return *node, nil, err
	}
	onNode := func(err error) error { return fmt.Errorf("on node %s: %w", nodeName(*node), err) }
	if err := m.CheckVolumes(ctx, cfg, true); err != nil {
		return *node, nil, onNode(err)
	}
	if placementOf(cfg) == sandbox.PlacementPinned {
		if err := s.checkBindDevicesOn(ctx, m, *node, cfg); err != nil {
			return *node, nil, onNode(err)
		}
	}
	mounts, err := m.PrepareForTask(ctx, subdir, cfg)
	if err != nil {
		return *node, nil, onNode(err)
	}
	return *node, mounts, nil
}

// nodeManager is a Manager of a node's own engine, reached through its
// label sandbox.LabelNodeEngine, which must be that node's (its engine says
// which node it is). Every call to it is bounded as the manager's are.
func (s *Swarm) nodeManager(ctx context.Context, node swarmtypes.Node) (*engine.Manager, error) {
	c, err := s.nodeClient(ctx, node)
	if err != nil {
		return nil, err
	}
	opts := s.opts.Node
	opts.Version, opts.Timeout = s.opts.Version, s.opts.Timeout
	return engine.New(c, opts), nil
}

// nodeClient is the client of a node's own engine, checked to be that
// node's.
func (s *Swarm) nodeClient(ctx context.Context, node swarmtypes.Node) (sandbox.Client, error) {
	label := node.Spec.Labels[sandbox.LabelNodeEngine]
	fail := func(err error) error { return &sandbox.NodeEngineError{Node: nodeName(node), Label: label, Err: err} }
	switch {
	case label == "":
		return nil, fail(fmt.Errorf("it has no %s label: its engine is needed to make the workspace's directory there", sandbox.LabelNodeEngine))
	case s.opts.NodeEngine == nil:
		return nil, fail(errors.New("no way to reach the engines of the nodes"))
	}
	c, err := s.opts.NodeEngine(ctx, node, label)
	if err != nil {
		return nil, fail(err)
	}
	info, err := bounded.Do(ctx, s.limits.Read, "info of node "+nodeName(node), false, c.Info)
	if err != nil {
		return nil, fail(err)
	}
	if info.Swarm.NodeID != node.ID {
		return nil, fail(fmt.Errorf("the label names the engine of another node (%q): refused", info.Swarm.NodeID))
	}
	return c, nil
}

// checkNodes checks the volumes of a shared workspace on every node that
// may run it (labelled sandbox.LabelNodeEngine, Engine 26.1+): a volume of
// that name made otherwise, or bind volumes' directories open to others.
func (s *Swarm) checkNodes(ctx context.Context, cfg sandbox.Config, nodes []swarmtypes.Node) error {
	for _, n := range nodes {
		if !canSubpath(n) || n.Spec.Labels[sandbox.LabelNodeEngine] == "" {
			continue
		}
		m, err := s.nodeManager(ctx, n)
		if err != nil {
			return err
		}
		if err := m.CheckVolumes(ctx, cfg, true); err != nil {
			return fmt.Errorf("on node %s: %w", nodeName(n), err)
		}
		if err := s.checkBindDevicesOn(ctx, m, n, cfg); err != nil {
			return fmt.Errorf("on node %s: %w", nodeName(n), err)
		}
		if err := s.setNodeLabel(ctx, n, storageLabel(cfg), true); err != nil {
			return err
		}
	}
	return nil
}

// checkBindDevicesOn checks the directories of local bind volumes on a
// node, once per node and process.
func (s *Swarm) checkBindDevicesOn(ctx context.Context, m *engine.Manager, node swarmtypes.Node, cfg sandbox.Config) error {
	if ws, shared := cfg.BindDevices(); ws == "" && shared == "" {
		return nil
	}
	key := node.ID + "\x00" + fmt.Sprint(cfg.BindDevices())
	s.mu.Lock()
	done := s.checked[key]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := m.CheckBindDevices(ctx, cfg); err != nil {
		return err
	}
	s.mu.Lock()
	if s.checked == nil {
		s.checked = map[string]bool{}
	}
	s.checked[key] = true
	s.mu.Unlock()
	return nil
}

// chooseNode picks the node of a new workspace: of the ready, active nodes
// that can apply a volume subpath and have an engine label, the one with
// the fewest workspaces pinned to it; ties are broken by the subdir, so
// that concurrent ensures of one workspace pick the same node.
func (s *Swarm) chooseNode(ctx context.Context, subdir string, nodes []swarmtypes.Node) (*swarmtypes.Node, error) {
	// One choice at a time in this process: what it places is in placing
	// until done, and counted from there until Swarm lists it.
	s.mu.Lock()
	defer s.mu.Unlock()
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelSubdir))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	load := map[string]int{}
	listed := map[string]bool{}
	for i := range svcs {
		load[pinnedNode(&svcs[i])]++
		listed[svcs[i].Spec.Labels[sandbox.LabelSubdir]] = true
	}
	// The workspaces this process is placing and Swarm does not list yet
	// (ensure of many at once): counted, so that they spread.
	for sub, id := range s.placing {
		if !listed[sub] && sub != subdir {
			load[id]++
		}
	}
	var cands []*swarmtypes.Node
	var why []string
	for i := range nodes {
		n := &nodes[i]
		switch {
		case n.Status.State != swarmtypes.NodeStateReady:
			why = append(why, nodeName(*n)+" is "+string(n.Status.State))
		case n.Spec.Availability != swarmtypes.NodeAvailabilityActive:
			why = append(why, nodeName(*n)+" is "+string(n.Spec.Availability))
		case !canSubpath(*n):
			why = append(why, fmt.Sprintf("%s runs Engine %s, which does not apply a volume subpath "+
				"in a task (%s+ does): it would mount the whole volume", nodeName(*n), n.Description.Engine.EngineVersion, minSubpathEngine))
		case n.Spec.Labels[sandbox.LabelNodeEngine] == "":
			why = append(why, fmt.Sprintf("%s has no %s label", nodeName(*n), sandbox.LabelNodeEngine))
		default:
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no node can take workspace %q: %s", subdir, strings.Join(why, "; "))
	}
	tie := func(n *swarmtypes.Node) uint32 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(subdir + "\x00" + n.ID))
		return h.Sum32()
	}
	sort.Slice(cands, func(i, j int) bool {
		if a, b := load[cands[i].ID], load[cands[j].ID]; a != b {
			return a < b
		}
		return tie(cands[i]) < tie(cands[j])
	})
	if s.placing == nil {
		s.placing = map[string]string{}
	}
	s.placing[subdir] = cands[0].ID
	return cands[0], nil
}

// placed ends the placing of a workspace (chooseNode).
func (s *Swarm) placed(subdir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.placing, subdir)
}
