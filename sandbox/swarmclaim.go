package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
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
	// LabelClaim marks a claim; its value is the storage of the workspace
	// volume (see storageKey).
	LabelClaim = LabelPrefix + "claim"
	// LabelClaimShared is the storage of the shared volume.
	LabelClaimShared = LabelPrefix + "claim-shared"
	// LabelClaimVolume is the workspace volume's name.
	LabelClaimVolume = LabelPrefix + "volume"
	// LabelClaimNode is the node ID of a pinned workspace's data.
	LabelClaimNode = LabelPrefix + "node"
	claimPrefix    = "gws-claim-"
)

// storageKey names the storage of a volume, as claims compare it: the
// directory of a local bind volume ("bind:/srv/ws"), the driver and its
// options for another made with options ("local:device=:/ws,o=addr=…,type=nfs"),
// the name of a plain one ("volume:gw_workspaces"). Two volume names with
// one storage are one storage.
func storageKey(cfg Config, name string, opts map[string]string) string {
	ws, shared := cfg.bindDevices()
	switch {
	case name == cfg.WorkspaceVolume && ws != "":
		return "bind:" + path.Clean(ws)
	case name == cfg.SharedVolume && shared != "":
		return "bind:" + path.Clean(shared)
	case cfg.VolumeDriver != "" || len(opts) > 0:
		return cfg.volumeDriverName() + ":" + optsString(opts)
	}
	return "volume:" + name
}

func (c Config) workspaceStorage() string {
	return storageKey(c, c.WorkspaceVolume, c.VolumeOptions)
}

func (c Config) sharedStorage() string {
	return storageKey(c, c.SharedVolume, c.SharedVolumeOptions)
}

// claimName is the name of the claim of subdir in a storage.
func claimName(storage, subdir string) string {
	sum := sha256.Sum256([]byte(storage + "\x00" + subdir))
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
	name := claimName(cfg.workspaceStorage(), subdir)
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
		labels := map[string]string{
			LabelClaim: cfg.workspaceStorage(), LabelClaimShared: cfg.sharedStorage(), LabelClaimVolume: cfg.WorkspaceVolume,
			LabelSubdir: subdir, LabelPlacement: string(placementOf(cfg)),
		}
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

// checkClaims refuses a workspace that meets another claimed before it (an
// earlier claim, or one as old with a smaller ID): of two claimed at once,
// one is made. They meet when they nest in one storage, when their
// storages are bind directories that nest, or when the shared storage of
// one is in, or holds, the workspace storage of the other (its containers
// would see the other's workspaces).
func (s *Swarm) checkClaims(ctx context.Context, mine swarm.Config, subdir string) error {
	all, err := s.client.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelClaim))})
	if err != nil {
		return fmt.Errorf("list the claims of workspaces (Swarm configs): %w", err)
	}
	ws, shared := mine.Spec.Labels[LabelClaim], mine.Spec.Labels[LabelClaimShared]
	for _, o := range all {
		if o.ID == mine.ID || !strings.HasPrefix(o.Spec.Name, claimPrefix) {
			continue
		}
		other, ows, oshared := o.Spec.Labels[LabelSubdir], o.Spec.Labels[LabelClaim], o.Spec.Labels[LabelClaimShared]
		var why string
		switch {
		case ws == ows && subdirsNest(subdir, other):
			why = fmt.Sprintf("would nest with workspace %q in one storage (%s)", other, ws)
		case ws != ows && storagesNest(ws, ows):
			why = fmt.Sprintf("is in a storage (%s) that nests with that of workspace %q (%s)", ws, other, ows)
		case storagesNest(shared, ows):
			why = fmt.Sprintf("would share a directory (%s) that meets the workspaces' storage of workspace %q (%s): its containers would see them", shared, other, ows)
		case storagesNest(ws, oshared):
			why = fmt.Sprintf("would be in a storage (%s) that meets the shared directory of workspace %q (%s): that workspace's containers would see it", ws, other, oshared)
		default:
			continue
		}
		if o.CreatedAt.Before(mine.CreatedAt) || o.CreatedAt.Equal(mine.CreatedAt) && o.ID < mine.ID {
			return fmt.Errorf("%w: workspace %q %s, claimed first (Swarm config %s): refused", ErrOverlap, subdir, why, o.Spec.Name)
		}
	}
	return nil
}

// storagesNest says whether two storages are one, or bind directories one
// in the other.
func storagesNest(a, b string) bool {
	if a == b {
		return true
	}
	pa, okA := strings.CutPrefix(a, "bind:")
	pb, okB := strings.CutPrefix(b, "bind:")
	return okA && okB && overlapPaths(pa, pb)
}

// subdirsNest says whether one subdir is the other or below it.
func subdirsNest(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// ErrClaimNodeGone: a pinned workspace's node left the Swarm.
var ErrClaimNodeGone = errors.New("the node of the workspace's data is no longer in the Swarm")
