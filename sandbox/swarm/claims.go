package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/filters"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// A workspace on Swarm is claimed, cluster-wide, by a Swarm config (an
// object that Swarm keeps unique by name, as it does services): its name
// is derived from the workspace volume and the subdir, its labels say
// which, and, in pinned placement, the node its data is on. Claims order
// the making of workspaces across every process and every node, which the
// records in a volume cannot do when two nodes make workspaces of one
// storage at once: of two nested workspaces claimed at the same moment the
// one claimed first is made, the other refused. A claim outlives `rm` — the
// data does too — so that the next ensure puts the workspace back where its
// data is; removing the claim (a Swarm config) forgets it.
const (
	// labelClaim marks a claim; its value is the storage of the workspace
	// volume (see claims.StorageKey).
	labelClaim = sandbox.LabelPrefix + "claim"
	// labelClaimShared is the storage of the shared volume.
	labelClaimShared = sandbox.LabelPrefix + "claim-shared"
	// labelClaimVolume is the workspace volume's name.
	labelClaimVolume = sandbox.LabelPrefix + "volume"
	// labelClaimNode is the node ID of a pinned workspace's data.
	labelClaimNode = sandbox.LabelPrefix + "node"
	claimPrefix    = "gws-claim-"
)

// claimName is the name of the claim of subdir in a storage.
func claimName(storage, subdir string) string {
	sum := sha256.Sum256([]byte(storage + "\x00" + subdir))
	return claimPrefix + hex.EncodeToString(sum[:20])
}

// claimed is a claim as found.
type claimed struct {
	cfg     swarmtypes.Config
	node    string // pinned: the node of its data
	created bool   // by this call
}

// claim finds the claim of a workspace, or makes it (choose picks the node
// of a pinned one), then refuses the workspace when an earlier claim of the
// same volume nests with it (and takes back a claim it made).
func (s *Swarm) claim(ctx context.Context, subdir string, cfg sandbox.Config, choose func() (string, error)) (claimed, error) {
	name := claimName(claims.WorkspaceStorage(cfg), subdir)
	var c claimed
	for attempt := 0; ; attempt++ {
		found, err := s.findClaim(ctx, name, subdir)
		if err != nil {
			return c, err
		}
		if found != nil {
			c = claimed{cfg: *found, node: found.Spec.Labels[labelClaimNode]}
			break
		}
		if attempt > 0 {
			return c, fmt.Errorf("claim %s of workspace %q: it was made and is gone", name, subdir)
		}
		node := ""
		if placementOf(cfg) == sandbox.PlacementPinned {
			if node, err = choose(); err != nil {
				return c, err
			}
		}
		labels := map[string]string{
			labelClaim: claims.WorkspaceStorage(cfg), labelClaimShared: claims.SharedStorage(cfg), labelClaimVolume: cfg.WorkspaceVolume,
			sandbox.LabelSubdir: subdir, sandbox.LabelPlacement: string(placementOf(cfg)),
		}
		if node != "" {
			labels[labelClaimNode] = node
		}
		resp, err := s.client.ConfigCreate(ctx, swarmtypes.ConfigSpec{
			Annotations: swarmtypes.Annotations{Name: name, Labels: labels},
			Data:        []byte("docker-workspace: workspace " + subdir + " of volume " + cfg.WorkspaceVolume + "\n"),
		})
		if err != nil {
			if enginemsg.SwarmRace(err) {
				continue // another ensure claimed it first: use its claim
			}
			return c, fmt.Errorf("claim workspace %q (Swarm config %s): %w", subdir, name, err)
		}
		mine, err := s.findClaim(ctx, name, subdir)
		if err != nil || mine == nil || mine.ID != resp.ID {
			if err == nil {
				err = fmt.Errorf("claim %s of workspace %q: made, then not found", name, subdir)
			}
			return c, err
		}
		c = claimed{cfg: *mine, node: node, created: true}
		break
	}
	if err := s.checkClaims(ctx, c.cfg, subdir); err != nil {
		if c.created {
			_ = s.client.ConfigRemove(context.WithoutCancel(ctx), c.cfg.ID)
		}
		return c, err
	}
	return c, nil
}

// findClaim returns the claim of that name (nil when there is none); one
// of another subdir under it is refused.
func (s *Swarm) findClaim(ctx context.Context, name, subdir string) (*swarmtypes.Config, error) {
	cfgs, err := s.client.ConfigList(ctx, swarmtypes.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return nil, fmt.Errorf("list the claims of workspaces (Swarm configs): %w", err)
	}
	for i := range cfgs {
		if cfgs[i].Spec.Name != name {
			continue
		}
		if got := cfgs[i].Spec.Labels[sandbox.LabelSubdir]; got != subdir {
			return nil, fmt.Errorf("Swarm config %s is not the claim of workspace %q (it says %q): refused", name, subdir, got)
		}
		return &cfgs[i], nil
	}
	return nil, nil
}

// checkClaims refuses a workspace that meets another claimed before it (an
// earlier claim, or one as old with a smaller ID): of two claimed at once,
// one is made. They meet when they nest in one storage, when their
// storages are bind directories that nest, or when the shared storage of
// one is in, or holds, the workspace storage of the other (its containers
// would see the other's workspaces).
func (s *Swarm) checkClaims(ctx context.Context, mine swarmtypes.Config, subdir string) error {
	all, err := s.client.ConfigList(ctx, swarmtypes.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", labelClaim))})
	if err != nil {
		return fmt.Errorf("list the claims of workspaces (Swarm configs): %w", err)
	}
	ws, shared := mine.Spec.Labels[labelClaim], mine.Spec.Labels[labelClaimShared]
	for _, o := range all {
		if o.ID == mine.ID || !strings.HasPrefix(o.Spec.Name, claimPrefix) {
			continue
		}
		other, ows, oshared := o.Spec.Labels[sandbox.LabelSubdir], o.Spec.Labels[labelClaim], o.Spec.Labels[labelClaimShared]
		var why string
		switch {
		case ws == ows && claims.SubdirsNest(subdir, other):
			why = fmt.Sprintf("would nest with workspace %q in one storage (%s)", other, ws)
		case ws != ows && claims.StoragesNest(ws, ows):
			why = fmt.Sprintf("is in a storage (%s) that nests with that of workspace %q (%s)", ws, other, ows)
		case claims.StoragesNest(shared, ows):
			why = fmt.Sprintf("would share a directory (%s) that meets the workspaces' storage of workspace %q (%s): its containers would see them", shared, other, ows)
		case claims.StoragesNest(ws, oshared):
			why = fmt.Sprintf("would be in a storage (%s) that meets the shared directory of workspace %q (%s): that workspace's containers would see it", ws, other, oshared)
		default:
			continue
		}
		if o.CreatedAt.Before(mine.CreatedAt) || o.CreatedAt.Equal(mine.CreatedAt) && o.ID < mine.ID {
			return fmt.Errorf("%w: workspace %q %s, claimed first (Swarm config %s): refused", sandbox.ErrOverlap, subdir, why, o.Spec.Name)
		}
	}
	return nil
}
