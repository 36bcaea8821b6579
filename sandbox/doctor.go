package sandbox

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
)

// Report is what [Manager.Check] found out about an engine and a
// configuration.
type Report struct {
	EngineVersion string
	APIVersion    string // the API version in use (negotiated)
	OS            string
	// Modes says, for each mount mode, whether this engine can serve it:
	// "" if it can, else why not.
	Modes map[MountMode]string
	Image ImageCheck
	// Paths and volumes of the configuration, as the engine sees them.
	Sources []SourceCheck
	// Problems are what would make ensure fail with this configuration.
	Problems []string
	// Plan is how the container of a workspace SUBDIR would be mounted,
	// as ensure plans it (nil when it cannot be).
	Plan *MountPlan `json:",omitempty"`
	// Warnings are what ensure works with, but should not be so.
	Warnings []string
	// Leftovers counts the temporary containers of ours (gws_new_…,
	// gws_old_…, gws_helper_…) that a killed process left behind; the next
	// ensure that creates a container removes those of dead processes.
	Leftovers int
}

// ImageCheck tells whether the engine has the configured image.
type ImageCheck struct {
	Ref     string
	Present bool
	ID      string
}

// SourceCheck tells whether a bind path or a volume exists.
type SourceCheck struct {
	Kind   string // "workspace root", "shared directory", "workspace volume", "shared volume"
	Name   string
	Exists *bool  // nil: could not be told
	Note   string `json:",omitempty"`
}

// OK is true when ensure can work with the configuration.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Check inspects the engine and what cfg needs from it, without changing
// anything (a helper container may be created, never started, and removed).
func (m *Manager) Check(ctx context.Context, cfg Config) (Report, error) {
	v, err := m.client.ServerVersion(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{
		EngineVersion: v.Version, APIVersion: m.client.ClientVersion(), OS: v.Os,
		Modes: map[MountMode]string{ModeBind: "", ModeVolumeSubpath: ""},
	}
	if versions.LessThan(r.APIVersion, apiVersionSubpath) {
		r.Modes[ModeVolumeSubpath] = fmt.Sprintf("API %s is older than %s: this engine would ignore the subpath and mount the whole volume", r.APIVersion, apiVersionSubpath)
	}
	if err := cfg.Validate(); err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	// The plan ensure follows, for a workspace SUBDIR.
	plan, err := PlanMounts(cfg, "SUBDIR", r.APIVersion)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	} else {
		r.Plan = &plan
	}

	img, err := m.inspectImage(ctx, cfg.Image)
	switch {
	case err == nil:
		r.Image = ImageCheck{Ref: cfg.Image, Present: true, ID: img.ID}
	case cerrdefs.IsNotFound(err):
		r.Image = ImageCheck{Ref: cfg.Image}
		if cfg.Pull == PullNever {
			r.Problems = append(r.Problems, fmt.Sprintf("image %s is not on the engine and the pull policy is %q", cfg.Image, PullNever))
		}
	default:
		return r, err
	}

	if err := m.checkWorkspaces(ctx, cfg, &r); err != nil {
		return r, err
	}
	if cfg.Network != "" && !builtinNetwork(cfg.Network) {
		if _, err := m.client.NetworkInspect(ctx, cfg.Network, network.InspectOptions{}); err != nil {
			if !cerrdefs.IsNotFound(err) {
				return r, err
			}
			r.Problems = append(r.Problems, fmt.Sprintf("network %s does not exist on the engine: %v", cfg.Network, err))
		}
	}

	if cfg.Mode == ModeVolumeSubpath {
		for _, s := range []struct{ kind, name string }{{"workspace volume", cfg.WorkspaceVolume}, {"shared volume", cfg.SharedVolume}} {
			_, err := m.client.VolumeInspect(ctx, s.name)
			if err != nil && !cerrdefs.IsNotFound(err) {
				return r, err
			}
			exists := err == nil
			c := SourceCheck{Kind: s.kind, Name: s.name, Exists: &exists}
			if !exists {
				c.Note = "the engine creates it, empty, with the first workspace"
			}
			r.Sources = append(r.Sources, c)
		}
		return r, nil
	}
	canCreate := !versions.LessThan(r.APIVersion, apiVersionCreateMountpoint)
	for _, s := range []struct{ kind, path string }{{"workspace root", cfg.WorkspaceRoot}, {"shared directory", cfg.SharedDir}} {
		c := SourceCheck{Kind: s.kind, Name: s.path}
		exists, err := m.pathExists(ctx, cfg, s.path, r.Image.Present)
		if err != nil {
			return r, err
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
	return r, nil
}

// checkWorkspaces reports overlapping workspaces, leftovers, and on a local
// engine an unsafe root or a symlink on a workspace's path.
func (m *Manager) checkWorkspaces(ctx context.Context, cfg Config, r *Report) error {
	ctrs, err := m.listOurs(ctx)
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		if len(c.Names) > 0 && tempNameRE.MatchString(c.Names[0]) {
			r.Leftovers++
		}
	}
	var records []claim
	if cfg.Mode == ModeBind && cfg.CreateHostDirs {
		if _, err := os.Lstat(cfg.WorkspaceRoot); err == nil {
			root, err := openLocalRoot(cfg.WorkspaceRoot, false)
			if err != nil {
				r.Problems = append(r.Problems, err.Error())
			} else {
				defer root.Close()
				if st, err := root.stat(); err == nil && st.Mode&0o077 != 0 {
					r.Warnings = append(r.Warnings, fmt.Sprintf("workspace root %s is mode %04o: local users can reach the workspaces, read them, and run what a tenant made setuid there; chmod 700 it (ensure makes it so)", root.path, st.Mode&0o7777))
				}
				subdirs, err := root.records()
				if err != nil {
					r.Problems = append(r.Problems, err.Error())
				}
				records = recordClaims(subdirs, root.path, "", root.path)
				for i := range ctrs {
					c, ok := containerClaim(&ctrs[i])
					if !ok || c.subdir == "" || !strings.HasPrefix(c.bind, root.path+"/") {
						continue
					}
					if ws, _, err := root.workspaceDir(c.subdir, false); err != nil {
						if errors.Is(err, errSymlink) {
							r.Problems = append(r.Problems, fmt.Sprintf("%s: %v (ensure refuses to start it)", c, err))
						}
					} else {
						ws.Close()
					}
				}
			}
		}
	}
	if cfg.Mode == ModeBind && cfg.CreateHostDirs {
		if err := checkSharedPath(cfg.SharedDir); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	r.Problems = append(r.Problems, overlappingPairs(ctrs, records)...)
	return nil
}

// pathExists tells whether a directory exists as the engine sees it: here
// for a local engine; for a remote one, by creating (never starting) a
// container that binds it, which the engine refuses for a missing source.
func (m *Manager) pathExists(ctx context.Context, cfg Config, p string, haveImage bool) (*bool, error) {
	if cfg.CreateHostDirs {
		fi, err := os.Stat(p)
		exists := err == nil && fi.IsDir()
		return &exists, nil
	}
	if !haveImage {
		return nil, nil
	}
	helper, err := m.createTemp(ctx, helperPrefix,
		&container.Config{Image: cfg.Image, Entrypoint: []string{"true"}, Labels: temporaryLabels(map[string]string{LabelHelper: "check"})},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeBind, Source: p, Target: "/check"}}})
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "no such file") {
			exists := false
			return &exists, nil
		}
		return nil, fmt.Errorf("check %s on the engine: %w", p, err)
	}
	exists := true
	return &exists, m.removeTemp(ctx, helper)
}
