package engine

import (
	"archive/tar"
	"context"
	"fmt"
	"maps"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// Volumes made with a driver configuration (sandbox.Config.VolumeDriver,
// VolumeOptions, SharedVolumeOptions) are checked where they will be used,
// because an engine silently keeps what it has: a volume of that name that
// exists already is mounted as it is, whatever options a mount carries; and
// the local driver's bind volumes (o=bind, device=PATH) are host
// directories, open to the attacks on bind mode's directories.

// CheckVolumes refuses a workspace or shared volume that exists on the
// engine with another driver or other options than those configured (the
// engine would mount it as it is), and volumes whose storage another
// volume of the engine names too. Only asked when a driver configuration
// is set (a volume made by hand and named alone is the user's to define).
// Unless forTask (an orchestrator's task of this engine's node), an engine
// that is a node of an orchestrator is refused: its nodes may share that
// storage, and only the orchestrator's claims order the workspaces that
// nodes make in it at once.
func (m *Manager) CheckVolumes(ctx context.Context, cfg sandbox.Config, forTask bool) error {
	if !cfg.HasVolumeDriverConfig() {
		return nil
	}
	if !forTask {
		if err := m.checkNotNode(ctx); err != nil {
			return err
		}
	}
	if err := m.checkVolumeAliases(ctx, cfg); err != nil {
		return err
	}
	for _, v := range []struct {
		name string
		opts map[string]string
	}{{cfg.WorkspaceVolume, cfg.VolumeOptions}, {cfg.SharedVolume, cfg.SharedVolumeOptions}} {
		vol, err := m.client.VolumeInspect(ctx, v.name)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("inspect volume %s: %w", v.name, err)
		}
		if vol.Driver != cfg.VolumeDriverName() || !maps.Equal(nilIfEmpty(vol.Options), nilIfEmpty(v.opts)) {
			return fmt.Errorf("volume %s exists with driver %s and options %s, not with the configured driver %s and "+
				"options %s: the engine would mount it as it is; refused (remove it, or configure what it is)",
				v.name, vol.Driver, sandbox.OptsString(vol.Options), cfg.VolumeDriverName(), sandbox.OptsString(v.opts))
		}
	}
	return nil
}

// checkNotNode refuses volumes made with options on an engine that is a
// node of a Swarm.
func (m *Manager) checkNotNode(ctx context.Context) error {
	info, err := m.client.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the engine whether it is a node of an orchestrator: %w", err)
	}
	if info.Swarm.LocalNodeState == swarm.LocalNodeStateActive {
		return fmt.Errorf("this engine is a node of a Swarm, whose nodes may share the storage that the volume options name: "+
			"workspaces of that storage are made through the Swarm, whose claims order them across nodes (%w); refused", sandbox.ErrOrchestrated)
	}
	return nil
}

// checkVolumeAliases refuses a configuration whose volumes' storage is
// also that of a volume of another name on the engine (the same bind
// directory, or one in or above it; the same driver and options): the
// workspaces of the two names would meet, and nothing would compare them.
func (m *Manager) checkVolumeAliases(ctx context.Context, cfg sandbox.Config) error {
	list, err := m.client.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	mine := map[string]string{cfg.WorkspaceVolume: claims.WorkspaceStorage(cfg), cfg.SharedVolume: claims.SharedStorage(cfg)}
	for _, v := range list.Volumes {
		if v == nil || v.Name == cfg.WorkspaceVolume || v.Name == cfg.SharedVolume || len(v.Options) == 0 {
			continue
		}
		theirs := claims.StorageKey(sandbox.Config{VolumeDriver: v.Driver, VolumeOptions: v.Options, WorkspaceVolume: v.Name}, v.Name, v.Options)
		for name, key := range mine {
			if claims.StoragesNest(key, theirs) {
				return fmt.Errorf("volume %s names storage (%s) that meets that of volume %s (%s): the workspaces of the two "+
					"names would meet and nothing would compare them; use one volume name per storage: refused", name, key, v.Name, theirs)
			}
		}
	}
	return nil
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// CheckBindDevices looks, through a helper on the engine, at the host
// directories of local bind volumes as bind mode looks at its root and
// shared directory: they must exist; no element of their paths may be a
// symlink; the directories above them must be root's and writable by
// nobody else (unless sticky); the workspace volume's must be root's and
// writable by nobody else (its subdirectories are the workspaces, its
// records are in it); and each must lie below a directory of root's that
// other users cannot enter — else a local user could read every workspace,
// or run what a tenant (root in its container) leaves setuid there.
func (m *Manager) CheckBindDevices(ctx context.Context, cfg sandbox.Config) error {
	if ws, shared := cfg.BindDevices(); ws == "" && shared == "" {
		return nil
	}
	img, err := m.ensureImage(ctx, cfg)
	if err != nil {
		return err
	}
	return m.checkBindDevices(ctx, cfg, img)
}

func (m *Manager) checkBindDevices(ctx context.Context, cfg sandbox.Config, img image.InspectResponse) error {
	ws, shared := cfg.BindDevices()
	if ws == "" && shared == "" {
		return nil
	}
	var paths []string
	for _, d := range []string{ws, shared} {
		if d != "" {
			paths = append(paths, d)
		}
	}
	helper, err := sandbox.HostTopMounts(paths...)
	if err != nil {
		return err
	}
	probe := sandbox.Config{Image: cfg.Image, Mode: sandbox.ModeBind, WorkspaceRoot: ws, SharedDir: shared}
	p, err := m.newHelperPreparer(ctx, "", probe, img, sandbox.MountPlan{Prepare: sandbox.PrepareHelper, Helper: helper})
	if err != nil {
		return err
	}
	defer p.close(context.WithoutCancel(ctx))
	if err := p.checkBindDevice(ctx, ws, "the workspace volume's directory (its device option)", true); err != nil {
		return err
	}
	return p.checkBindDevice(ctx, shared, "the shared volume's directory (its device option)", false)
}

// checkBindDevice checks one bind volume's directory (see
// CheckBindDevices); isWS: the workspace volume's.
func (p *helperPreparer) checkBindDevice(ctx context.Context, dir, what string, isWS bool) error {
	if dir == "" {
		return nil
	}
	c, err := p.checkHostPath(ctx, dir, what, func(hdr *tar.Header) error {
		if isWS && (hdr.Uid != 0 || hdr.Mode&0o022 != 0) {
			return fmt.Errorf("%s %s is owned by uid %d, mode %04o: it holds every workspace, and whoever owns it "+
				"or can write it can redirect them; make it root's, writable by root alone: refused", what, dir, hdr.Uid, hdr.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.existing < len(c.elems) {
		return fmt.Errorf("%s %s does not exist: the local driver binds a directory that exists; make it, root's, below a directory only root can enter", what, dir)
	}
	if !p.privateAbove(c, true) {
		return fmt.Errorf("%s %s: no directory of its path (itself included) is root's and closed to other users (mode "+
			"0700): a local user could read the workspaces, or run what a tenant leaves setuid there; refused", what, dir)
	}
	// Not in the workspaces of another configuration (a directory that
	// holds their records: the root of a bind mode, or the directory of a
	// workspace volume), nor the shared one such a directory itself.
	if err := p.checkNoRootAbove(ctx, c, what, !isWS); err != nil {
		if !isWS {
			return fmt.Errorf("%w (every workspace container can write the shared directory: if %s is in it, a tenant may have made it; remove it)", err, sandbox.RegistryDir)
		}
		return err
	}
	return nil
}
