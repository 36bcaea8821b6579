package sandbox

import (
	"archive/tar"
	"context"
	"fmt"
	"maps"
	"path"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
)

// Volumes made with a driver configuration (--volume-driver, --volume-opt,
// --shared-volume-opt) are checked where they will be used, because an
// engine silently keeps what it has: a volume of that name that exists
// already is mounted as it is, whatever options a mount carries; and the
// local driver's bind volumes (o=bind, device=PATH) are host directories,
// open to the attacks on bind mode's directories (see Isolation).

// volumeDriverName is the configured volume driver ("local" by default).
func (c Config) volumeDriverName() string {
	if c.VolumeDriver == "" {
		return "local"
	}
	return c.VolumeDriver
}

// hasVolumeDriverConfig says whether volumes are made with a driver
// configuration.
func (c Config) hasVolumeDriverConfig() bool {
	return c.VolumeDriver != "" || len(c.VolumeOptions) > 0 || len(c.SharedVolumeOptions) > 0
}

// bindDevices are the host directories that local bind volumes name: the
// workspace volume's and the shared volume's ("" when not such a volume).
func (c Config) bindDevices() (ws, shared string) {
	dev := func(opts map[string]string) string {
		if c.volumeDriverName() != "local" {
			return ""
		}
		for _, o := range strings.Split(opts["o"], ",") {
			if o == "bind" || o == "rbind" {
				return opts["device"]
			}
		}
		return ""
	}
	return dev(c.VolumeOptions), dev(c.SharedVolumeOptions)
}

// checkVolumeConfig refuses, before anything is asked, bind volumes whose
// directories are relative or overlap: the shared one would show every
// workspace, or the workspaces the shared one.
func (c Config) checkVolumeConfig() error {
	ws, shared := c.bindDevices()
	for what, d := range map[string]string{"--volume-opt device": ws, "--shared-volume-opt device": shared} {
		if d != "" && !path.IsAbs(d) {
			return fmt.Errorf("%s=%s: a bind volume's directory must be an absolute path", what, d)
		}
		// The engine gives the path as it is to the kernel, which
		// resolves ".." after the symlinks before it: what is checked
		// (the clean path) must be what is mounted.
		if d != "" && d != path.Clean(d) {
			return fmt.Errorf("%s=%s: a bind volume's directory must be a clean path (no \"..\", \".\", \"//\" or trailing \"/\"): the kernel would resolve it otherwise than it reads; give %s", what, d, path.Clean(d))
		}
	}
	if ws != "" && shared != "" && overlapPaths(path.Clean(ws), path.Clean(shared)) {
		return fmt.Errorf("the shared volume's directory %s overlaps the workspace volume's %s: every workspace container would see the other's content; they must be apart (nothing was changed)", shared, ws)
	}
	for _, d := range []string{ws, shared} {
		if d != "" && path.Clean(d) == "/" {
			return fmt.Errorf("a bind volume's directory cannot be /")
		}
	}
	if c.volumeDriverName() == "local" {
		for what, o := range map[string]struct {
			opts map[string]string
			bind string
		}{"--volume-opt": {c.VolumeOptions, ws}, "--shared-volume-opt": {c.SharedVolumeOptions, shared}} {
			if err := checkLocalOptions(what, o.opts, o.bind); err != nil {
				return err
			}
		}
	}
	return nil
}

// localNetworkTypes are the file systems of the local driver that name
// storage of the network, or none: they expose no host path.
var localNetworkTypes = map[string]bool{"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "tmpfs": true}

// checkLocalOptions refuses options of the local driver that name a host
// path or device in any other form than a bind directory (which is
// checked): an overlay's lowerdir/upperdir/workdir, a block device, any
// file system type but network storage and tmpfs. Such a volume would
// mount host files that no check here looks at.
func checkLocalOptions(what string, opts map[string]string, bind string) error {
	if len(opts) == 0 || bind != "" {
		return nil
	}
	typ, dev, o := opts["type"], opts["device"], opts["o"]
	for _, k := range []string{"lowerdir=", "upperdir=", "workdir="} {
		if strings.Contains(o, k) {
			return fmt.Errorf("%s o=%s: a local volume over host directories (%s…) is refused: use o=bind,device=DIR, a directory that is checked, or network storage (type=nfs, cifs)", what, o, k)
		}
	}
	if !localNetworkTypes[typ] {
		return fmt.Errorf("%s type=%s: a local volume of that type mounts host storage that no check here looks at: use o=bind,device=DIR (checked), network storage (type=nfs, nfs4, cifs) or tmpfs; refused", what, typ)
	}
	if strings.HasPrefix(dev, "/") && !strings.HasPrefix(dev, "//") {
		return fmt.Errorf("%s device=%s: a host path is a bind volume's (o=bind) or nothing; refused", what, dev)
	}
	return nil
}

// checkVolumes refuses a workspace or shared volume that exists on the
// engine with another driver or other options than those configured: the
// engine would mount it as it is. Only asked when a driver configuration
// is set (a volume made by hand and named alone is the user's to define).
func (m *Manager) checkVolumes(ctx context.Context, cfg Config, where string) error {
	if !cfg.hasVolumeDriverConfig() {
		return nil
	}
	if err := m.checkNotSwarmNode(ctx); err != nil {
		return err
	}
	if err := m.checkVolumeAliases(ctx, cfg, where); err != nil {
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
			return fmt.Errorf("inspect volume %s%s: %w", v.name, where, err)
		}
		if vol.Driver != cfg.volumeDriverName() || !maps.Equal(nilIfEmpty(vol.Options), nilIfEmpty(v.opts)) {
			return fmt.Errorf("volume %s%s exists with driver %s and options %s, not with the configured driver %s and options %s: the engine would mount it as it is; refused (remove it, or configure what it is)",
				v.name, where, vol.Driver, optsString(vol.Options), cfg.volumeDriverName(), optsString(v.opts))
		}
	}
	return nil
}

// checkNotSwarmNode refuses, in engine mode, volumes made with options on
// an engine that is a node of a Swarm: its nodes may share that storage,
// and only the Swarm's claims order the workspaces that nodes make in it
// at once (records in the storage cannot: nothing there can be locked
// through an engine).
func (m *Manager) checkNotSwarmNode(ctx context.Context) error {
	if m.onSwarm {
		return nil
	}
	var c any = m.client
	if b, ok := c.(boundedClient); ok {
		c = b.c
	}
	ic, ok := c.(interface {
		Info(context.Context) (system.Info, error)
	})
	if !ok {
		return nil
	}
	info, err := ic.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the engine whether it is a Swarm node: %w", err)
	}
	if info.Swarm.LocalNodeState == swarm.LocalNodeStateActive {
		return fmt.Errorf("this engine is a node of a Swarm, whose nodes may share the storage that --volume-opt names: workspaces of that storage are made through the Swarm (--orchestrator swarm, with a manager's context), whose claims order them across nodes; refused")
	}
	return nil
}

// checkVolumeAliases refuses a configuration whose volumes' storage is
// also that of a volume of another name on the engine (the same bind
// directory, or one in or above it; the same driver and options): the
// workspaces of the two names would meet, and nothing would compare them.
func (m *Manager) checkVolumeAliases(ctx context.Context, cfg Config, where string) error {
	list, err := m.client.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return fmt.Errorf("list volumes%s: %w", where, err)
	}
	mine := map[string]string{cfg.WorkspaceVolume: cfg.workspaceStorage(), cfg.SharedVolume: cfg.sharedStorage()}
	for _, v := range list.Volumes {
		if v == nil || v.Name == cfg.WorkspaceVolume || v.Name == cfg.SharedVolume || len(v.Options) == 0 {
			continue
		}
		theirs := storageKey(Config{VolumeDriver: v.Driver, VolumeOptions: v.Options, WorkspaceVolume: v.Name}, v.Name, v.Options)
		for name, key := range mine {
			if storagesNest(key, theirs) {
				return fmt.Errorf("volume %s%s names storage (%s) that meets that of volume %s (%s): the workspaces of the two names would meet and nothing would compare them; use one volume name per storage: refused", name, where, key, v.Name, theirs)
			}
		}
	}
	return nil
}

func optsString(opts map[string]string) string {
	if len(opts) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + opts[k]
	}
	return strings.Join(keys, ",")
}

// checkBindDevices looks, through a helper on the engine, at the host
// directories of local bind volumes as bind mode looks at its root and
// shared directory: they must exist; no element of their paths may be a
// symlink; the directories above them must be root's and writable by
// nobody else (unless sticky); the workspace volume's must be root's and
// writable by nobody else (its subdirectories are the workspaces, its
// records are in it); and each must lie below a directory of root's that
// other users cannot enter — else a local user could read every workspace,
// or run what a tenant (root in its container) leaves setuid there.
func (m *Manager) checkBindDevices(ctx context.Context, cfg Config, img image.InspectResponse, where string) error {
	ws, shared := cfg.bindDevices()
	if ws == "" && shared == "" {
		return nil
	}
	var paths []string
	for _, d := range []string{ws, shared} {
		if d != "" {
			paths = append(paths, d)
		}
	}
	helper, err := hostTopMounts(paths...)
	if err != nil {
		return err
	}
	probe := Config{Image: cfg.Image, Mode: ModeBind, WorkspaceRoot: ws, SharedDir: shared}
	p, err := m.newHelperPreparer(ctx, "", probe, img, MountPlan{Prepare: PrepareHelper, Helper: helper})
	if err != nil {
		return err
	}
	defer p.close(context.WithoutCancel(ctx))
	for _, d := range []struct {
		path, what string
		isWS       bool
	}{{ws, "the workspace volume's directory (--volume-opt device)", true}, {shared, "the shared volume's directory (--shared-volume-opt device)", false}} {
		if d.path == "" {
			continue
		}
		c, err := p.checkHostPath(ctx, d.path, d.what, func(hdr *tar.Header) error {
			if d.isWS && (hdr.Uid != 0 || hdr.Mode&0o022 != 0) {
				return fmt.Errorf("%s %s%s is owned by uid %d, mode %04o: it holds every workspace, and whoever owns it or can write it can redirect them; make it root's, writable by root alone: refused", d.what, d.path, where, hdr.Uid, hdr.Mode&0o7777)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w%s", err, where)
		}
		if c.existing < len(c.elems) {
			return fmt.Errorf("%s %s does not exist%s: the local driver binds a directory that exists; make it, root's, below a directory only root can enter", d.what, d.path, where)
		}
		if !p.privateAbove(c, true) {
			return fmt.Errorf("%s %s%s: no directory of its path (itself included) is root's and closed to other users (mode 0700): a local user could read the workspaces, or run what a tenant leaves setuid there; refused", d.what, d.path, where)
		}
		// Not in the workspaces of another configuration (a directory
		// that holds their records: the root of a bind mode, or the
		// directory of a workspace volume), nor the shared one such a
		// directory itself.
		if err := p.checkNoRootAbove(ctx, c, d.what, !d.isWS); err != nil {
			if !d.isWS {
				return fmt.Errorf("%w%s (every workspace container can write the shared directory: if %s is in it, a tenant may have made it; remove it)", err, where, RegistryDir)
			}
			return fmt.Errorf("%w%s", err, where)
		}
	}
	return nil
}
