package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
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
// data is; `docker config rm` forgets it.
const (
	// LabelClaim marks a claim; its value is the workspace volume.
	LabelClaim = LabelPrefix + "claim"
	// LabelClaimNode is the node ID of a pinned workspace's data.
	LabelClaimNode = LabelPrefix + "node"
	claimPrefix    = "gws-claim-"
)

// claimName is the name of the claim of subdir in the volume vol.
func claimName(vol, subdir string) string {
	sum := sha256.Sum256([]byte(vol + "\x00" + subdir))
	return claimPrefix + hex.EncodeToString(sum[:20])
}

// claimed is a claim as found.
type claimed struct {
	cfg     swarm.Config
	node    string // pinned: the node of its data
	created bool   // by this call
}

// claim finds the claim of a workspace, or makes it (choose picks the node
// of a pinned one), then refuses the workspace when an earlier claim of the
// same volume nests with it (and takes back a claim it made).
func (s *Swarm) claim(ctx context.Context, subdir string, cfg Config, choose func() (string, error)) (claimed, error) {
	name := claimName(cfg.WorkspaceVolume, subdir)
	var c claimed
	for attempt := 0; ; attempt++ {
		found, err := s.findClaim(ctx, name, subdir)
		if err != nil {
			return c, err
		}
		if found != nil {
			c = claimed{cfg: *found, node: found.Spec.Labels[LabelClaimNode]}
			break
		}
		if attempt > 0 {
			return c, fmt.Errorf("claim %s of workspace %q: it was made and is gone", name, subdir)
		}
		node := ""
		if placementOf(cfg) == PlacementPinned {
			if node, err = choose(); err != nil {
				return c, err
			}
		}
		labels := map[string]string{LabelClaim: cfg.WorkspaceVolume, LabelSubdir: subdir, LabelPlacement: string(placementOf(cfg))}
		if node != "" {
			labels[LabelClaimNode] = node
		}
		resp, err := s.client.ConfigCreate(ctx, swarm.ConfigSpec{
			Annotations: swarm.Annotations{Name: name, Labels: labels},
			Data:        []byte("docker-workspace: workspace " + subdir + " of volume " + cfg.WorkspaceVolume + "\n"),
		})
		if err != nil {
			if isSwarmRace(err) {
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
	if err := s.checkClaims(ctx, c.cfg, subdir, cfg.WorkspaceVolume); err != nil {
		if c.created {
			_ = s.client.ConfigRemove(context.WithoutCancel(ctx), c.cfg.ID)
		}
		return c, err
	}
	return c, nil
}

// findClaim returns the claim of that name (nil when there is none); one
// of another subdir under it is refused.
func (s *Swarm) findClaim(ctx context.Context, name, subdir string) (*swarm.Config, error) {
	cfgs, err := s.client.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return nil, fmt.Errorf("list the claims of workspaces (Swarm configs): %w", err)
	}
	for i := range cfgs {
		if cfgs[i].Spec.Name != name {
			continue
		}
		if got := cfgs[i].Spec.Labels[LabelSubdir]; got != subdir {
			return nil, fmt.Errorf("Swarm config %s is not the claim of workspace %q (it says %q): refused", name, subdir, got)
		}
		return &cfgs[i], nil
	}
	return nil, nil
}

// checkClaims refuses a workspace that nests with another of the same
// volume claimed before it (an earlier claim, or one as old with a smaller
// ID): of two claimed at once, one is made.
func (s *Swarm) checkClaims(ctx context.Context, mine swarm.Config, subdir, vol string) error {
	all, err := s.client.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelClaim+"="+vol))})
	if err != nil {
		return fmt.Errorf("list the claims of workspaces (Swarm configs): %w", err)
	}
	for _, o := range all {
		other := o.Spec.Labels[LabelSubdir]
		if o.ID == mine.ID || o.Spec.Labels[LabelClaim] != vol || !strings.HasPrefix(o.Spec.Name, claimPrefix) || !subdirsNest(subdir, other) {
			continue
		}
		if o.CreatedAt.Before(mine.CreatedAt) || o.CreatedAt.Equal(mine.CreatedAt) && o.ID < mine.ID {
			return fmt.Errorf("%w: workspace %q would nest with workspace %q in volume %s on the Swarm (claimed first, Swarm config %s): the outer one's tenants could read and redirect the inner one; refused", ErrOverlap, subdir, other, vol, o.Spec.Name)
		}
	}
	return nil
}

// subdirsNest says whether one subdir is the other or below it.
func subdirsNest(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// ErrClaimNodeGone: a pinned workspace's node left the Swarm.
var ErrClaimNodeGone = errors.New("the node of the workspace's data is no longer in the Swarm")
