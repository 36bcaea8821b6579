package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
)

// mounts returns the two mounts of a new container, after making sure that
// their sources exist.
func (m *Manager) mounts(ctx context.Context, subdir string, cfg Config) ([]mount.Mount, error) {
	if cfg.Mode == ModeVolumeSubpath {
		if err := m.ensureVolumeSubdir(ctx, subdir, cfg); err != nil {
			return nil, err
		}
		return []mount.Mount{
			{
				Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: WorkspaceTarget,
				VolumeOptions: &mount.VolumeOptions{Subpath: subdir},
			},
			{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: SharedTarget},
		}, nil
	}

	wsPath := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
	shPath := filepath.Clean(cfg.SharedDir)
	var bindOpts *mount.BindOptions
	if cfg.CreateHostDirs {
		var err error
		if wsPath, err = localWorkspaceDir(cfg.WorkspaceRoot, subdir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(shPath, 0o755); err != nil {
			return nil, fmt.Errorf("create shared directory: %w", err)
		}
	} else if !versions.LessThan(m.client.ClientVersion(), apiVersionCreateMountpoint) {
		bindOpts = &mount.BindOptions{CreateMountpoint: true}
	}
	return []mount.Mount{
		{Type: mount.TypeBind, Source: wsPath, Target: WorkspaceTarget, BindOptions: bindOpts},
		{Type: mount.TypeBind, Source: shPath, Target: SharedTarget, BindOptions: bindOpts},
	}, nil
}

// localWorkspaceDir creates <root>/<subdir> on this host when missing and
// returns its real path, refusing one that resolves (through a symlink)
// outside the real root.
func localWorkspaceDir(root, subdir string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create workspace root: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve workspace root: %w", err)
	}
	// Walk down one element at a time, so that nothing is created through
	// a symlink that leads out of the root.
	cur := realRoot
	for _, elem := range strings.Split(subdir, "/") {
		next := filepath.Join(cur, elem)
		if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create workspace directory: %w", err)
		}
		real, err := filepath.EvalSymlinks(next)
		if err != nil {
			return "", fmt.Errorf("resolve workspace directory: %w", err)
		}
		if !within(realRoot, real) {
			return "", fmt.Errorf("workspace %q resolves to %s, outside the workspace root %s", subdir, real, realRoot)
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("workspace path %s is not a directory", real)
		}
		cur = real
	}
	return cur, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// helperMountPoint is where a helper container sees the workspace volume.
const helperMountPoint = "/workspaces"

// ensureVolumeSubdir creates the subdir inside the workspace volume when it
// is missing (engines refuse a missing subpath). Nothing of the image runs:
// a helper container is created, never started, receives a tar holding only
// the missing directory entries, and is removed.
func (m *Manager) ensureVolumeSubdir(ctx context.Context, subdir string, cfg Config) (retErr error) {
	helper, err := m.client.ContainerCreate(ctx,
		&container.Config{Image: cfg.Image, Entrypoint: []string{"true"}, Labels: map[string]string{LabelPrefix + "helper": "mkdir"}},
		&container.HostConfig{
			NetworkMode: "none",
			Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: helperMountPoint}},
		}, nil, nil, "")
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return &imageMissingError{err: err}
		}
		return fmt.Errorf("prepare workspace volume %s: %w", cfg.WorkspaceVolume, err)
	}
	defer func() {
		err := m.client.ContainerRemove(context.WithoutCancel(ctx), helper.ID, container.RemoveOptions{Force: true})
		if err != nil && retErr == nil {
			retErr = fmt.Errorf("remove helper container: %w", err)
		}
	}()

	// Find the deepest element that exists already.
	elems := strings.Split(subdir, "/")
	have := 0
	for have < len(elems) {
		p := path.Join(helperMountPoint, path.Join(elems[:have+1]...))
		st, err := m.client.ContainerStatPath(ctx, helper.ID, p)
		if cerrdefs.IsNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("look for %s in volume %s: %w", subdir, cfg.WorkspaceVolume, err)
		}
		if !st.Mode.IsDir() {
			return fmt.Errorf("workspace %s in volume %s is not a directory", path.Join(elems[:have+1]...), cfg.WorkspaceVolume)
		}
		have++
	}
	if have == len(elems) {
		return nil
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := have; i < len(elems); i++ {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: path.Join(elems[:i+1]...) + "/", Mode: 0o755}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := m.client.CopyToContainer(ctx, helper.ID, helperMountPoint, &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("create %s in volume %s: %w", subdir, cfg.WorkspaceVolume, err)
	}
	return nil
}
