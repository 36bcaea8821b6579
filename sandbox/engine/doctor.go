package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// Check inspects the engine and what cfg needs from it, without changing
// anything (a helper container may be created, never started, and removed).
func (m *Manager) Check(ctx context.Context, cfg sandbox.Config) (sandbox.Report, error) {
	v, err := m.client.ServerVersion(ctx)
	if err != nil {
		return sandbox.Report{}, err
	}
	r := sandbox.Report{
		EngineVersion: v.Version, APIVersion: m.client.ClientVersion(), OS: v.Os,
		Modes:    map[sandbox.MountMode]string{sandbox.ModeBind: "", sandbox.ModeVolumeSubpath: ""},
		Sources:  []sandbox.SourceCheck{},
		Problems: []string{},
	}
	if versions.LessThan(r.APIVersion, sandbox.APIVersionSubpath) {
		r.Modes[sandbox.ModeVolumeSubpath] = fmt.Sprintf("API %s is older than %s: this engine would ignore the subpath and mount the whole volume", r.APIVersion, sandbox.APIVersionSubpath)
	}
	if err := m.Validate(cfg); err != nil {
		r.Problems = append(r.Problems, err.Error())
		if errors.As(err, new(*sandbox.DiskCapError)) {
			r.Disk = "not available: " + sandbox.DiskQuotaReason(diskFS(cfg))
		}
		return r, nil
	}
	r.Egress = cfg.DescribeEgress()
	if cfg.EgressMode().Proxied() {
		if err := m.checkProxyProgram(); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	// The plan ensure follows, for a workspace SUBDIR.
	if plan, err := sandbox.PlanMounts(cfg, "SUBDIR", r.APIVersion); err != nil {
		r.Problems = append(r.Problems, err.Error())
	} else {
		r.Plan = &plan
	}
	for _, check := range []func(context.Context, sandbox.Config, *sandbox.Report) error{
		m.checkImage, m.checkWorkspaces, m.checkSources, m.checkNetworkOf, m.checkDisk,
	} {
		if err := check(ctx, cfg, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// checkImage tells whether the engine has the image.
func (m *Manager) checkImage(ctx context.Context, cfg sandbox.Config, r *sandbox.Report) error {
	img, err := m.inspectImage(ctx, cfg.Image)
	switch {
	case err == nil:
		r.Image = &sandbox.ImageCheck{Ref: cfg.Image, Present: true, ID: img.ID}
	case cerrdefs.IsNotFound(err):
		r.Image = &sandbox.ImageCheck{Ref: cfg.Image}
		if cfg.Pull == sandbox.PullNever {
			r.Problems = append(r.Problems, fmt.Sprintf("image %s is not on the engine and the pull policy is %q", cfg.Image, sandbox.PullNever))
		}
	default:
		return err
	}
	return nil
}

// checkNetworkOf tells whether the configured network exists.
func (m *Manager) checkNetworkOf(ctx context.Context, cfg sandbox.Config, r *sandbox.Report) error {
	if cfg.Network == "" || builtinNetwork(cfg.Network) {
		return nil
	}
	_, err := m.client.NetworkInspect(ctx, cfg.Network, network.InspectOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	exists := err == nil
	r.Sources = append(r.Sources, sandbox.SourceCheck{Kind: "network", Name: cfg.Network, Exists: &exists})
	if !exists {
		r.Problems = append(r.Problems, fmt.Sprintf("network %s does not exist on the engine", cfg.Network))
	}
	return nil
}

// checkSources tells whether the volumes, or the bind directories, exist.
func (m *Manager) checkSources(ctx context.Context, cfg sandbox.Config, r *sandbox.Report) error {
	if cfg.Mode == sandbox.ModeVolumeSubpath {
		for _, s := range []struct{ kind, name string }{{"workspace volume", cfg.WorkspaceVolume}, {"shared volume", cfg.SharedVolume}} {
			_, err := m.client.VolumeInspect(ctx, s.name)
			if err != nil && !cerrdefs.IsNotFound(err) {
				return err
			}
			exists := err == nil
			c := sandbox.SourceCheck{Kind: s.kind, Name: s.name, Exists: &exists}
			if !exists {
				c.Note = "the engine creates it, empty, with the first workspace"
			}
			r.Sources = append(r.Sources, c)
		}
		return nil
	}
	canCreate := !versions.LessThan(r.APIVersion, sandbox.APIVersionCreateMountpoint)
	for _, s := range []struct{ kind, path string }{{"workspace root", cfg.WorkspaceRoot}, {"shared directory", cfg.SharedDir}} {
		c := sandbox.SourceCheck{Kind: s.kind, Name: s.path}
		exists, err := m.pathExists(ctx, cfg, s.path, r.Image != nil && r.Image.Present)
		if err != nil {
			return err
		}
		c.Exists = exists
		switch {
		case exists == nil:
			c.Note = "cannot tell without the image"
		case !*exists && (cfg.CreateHostDirs || canCreate):
			c.Note = "created with the first workspace"
		case !*exists:
			c.Note = "missing"
			r.Problems = append(r.Problems, fmt.Sprintf("%s %s does not exist on the engine's host, and an engine of API %s cannot create it", s.kind, s.path, r.APIVersion))
		}
		r.Sources = append(r.Sources, c)
	}
	return nil
}

// checkWorkspaces reports overlapping workspaces, leftovers, and on a local
// engine an unsafe root or a symlink on a workspace's path.
func (m *Manager) checkWorkspaces(ctx context.Context, cfg sandbox.Config, r *sandbox.Report) error {
	ctrs, err := m.listOurs(ctx)
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		if isTempName(claims.FirstName(&c)) {
			r.Leftovers++
		}
	}
	var records []claims.Claim
	if cfg.Mode == sandbox.ModeBind && cfg.CreateHostDirs {
		records = checkLocalRoot(cfg.WorkspaceRoot, ctrs, r)
		if err := hostfs.CheckSharedPath(cfg.SharedDir); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	r.Problems = append(r.Problems, claims.OverlappingPairs(ctrs, records)...)
	return nil
}

// checkLocalRoot reports, for a root of this host, its mode, and a symlink
// on the path of a workspace in it; it returns its records.
func checkLocalRoot(rootPath string, ctrs []container.Summary, r *sandbox.Report) []claims.Claim {
	if _, err := os.Lstat(rootPath); err != nil {
		return nil
	}
	root, err := hostfs.OpenRoot(rootPath, false)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return nil
	}
	defer root.Close()
	// (A directory above it that others cannot enter keeps them out.)
	if st, err := root.Stat(); err == nil && st.Mode&0o077 != 0 && !hostfs.Private(root.Path) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("workspace root %s is mode %04o: local users can reach the workspaces, read "+
			"them, and run what a tenant made setuid there; chmod 700 it (ensure makes it so)", root.Path, st.Mode&0o7777))
	}
	subdirs, err := root.Records()
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	for i := range ctrs {
		c, ok := claims.OfContainer(&ctrs[i])
		if !ok || c.Subdir == "" || !strings.HasPrefix(c.Bind, root.Path+"/") {
			continue
		}
		ws, _, err := root.WorkspaceDir(c.Subdir, false)
		if err == nil {
			ws.Close()
		} else if errors.Is(err, hostfs.ErrSymlink) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v (ensure refuses to start it)", c, err))
		}
	}
	return claims.FromRecords(subdirs, root.Path, "", root.Path)
}

// pathExists tells whether a directory exists as the engine sees it: here
// for a local engine; for a remote one, by creating (never starting) a
// container that binds it, which the engine refuses for a missing source.
func (m *Manager) pathExists(ctx context.Context, cfg sandbox.Config, p string, haveImage bool) (*bool, error) {
	if cfg.CreateHostDirs {
		fi, err := os.Stat(p)
		exists := err == nil && fi.IsDir()
		return &exists, nil
	}
	if !haveImage {
		return nil, nil
	}
	helper, err := m.createTemp(ctx, helperPrefix,
		&container.Config{Image: cfg.Image, Entrypoint: []string{"true"}, Labels: temporaryLabels(map[string]string{sandbox.LabelHelper: "check"})},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeBind, Source: p, Target: "/check"}}}, nil)
	if err != nil {
		if missingBindSource(err) {
			exists := false
			return &exists, nil
		}
		return nil, fmt.Errorf("check %s on the engine: %w", p, err)
	}
	exists := true
	return &exists, m.removeTemp(ctx, helper)
}

// checkDisk tells whether a disk cap can be enforced, and whether the
// engine's storage could cap a container's writable layer.
func (m *Manager) checkDisk(ctx context.Context, cfg sandbox.Config, r *sandbox.Report) error {
	r.Disk = "not available: " + sandbox.DiskQuotaReason(diskFS(cfg))
	info, err := m.client.Info(ctx)
	if err != nil {
		return err
	}
	backing := ""
	for _, kv := range info.DriverStatus {
		if kv[0] == "Backing Filesystem" {
			backing = kv[1]
		}
	}
	r.WritableLayer = sandbox.WritableLayerCap(info.Driver, backing)
	return nil
}
