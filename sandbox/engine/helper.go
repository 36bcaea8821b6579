package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// helperPreparer makes directories and records where only the engine can:
// in a volume (volume_subpath mode) or on a remote engine's host (bind mode),
// through a helper container of the workspace image that mounts the whole
// volume, or the top-level directories of the engine's host that hold the
// root and the shared directory (remotebind.go). The helper is created, never started (nothing of the
// image runs), named gws_helper_…, labelled, with nothing anonymous mounted,
// and removed when the preparation ends (or, if this process is killed, by
// the next ensure: see gc.go). It also reads the image's /etc/passwd.
//
// Its checks are those of the local case, made through the engine: each
// element of the workspace path is looked at (the engine reports a symlink
// as one, without following it) and a symlink or a non-directory is
// refused; missing directories arrive as one tar of directory entries, the
// parents root's, the workspace's own directory the container user's. Later
// starts are not checked this way (that would cost a helper each time): no
// tenant can change a path element of another workspace, because no
// workspace directory holds another's and the root is seen by no container
// (overlap.go).
type helperPreparer struct {
	m      *Manager
	subdir string
	cfg    sandbox.Config
	plan   sandbox.MountPlan
	id     string // the helper
	self   claims.Claim
	seen   map[string]*tar.Header // remote bind: host paths looked at (nil: missing)
	root   *hostPathCheck         // remote bind: the root, checked, made or marked when prepared
	// forTask: prepared for an orchestrator's task (its record says so);
	// tasks: the subdirs an orchestrator runs from the volume, as read.
	forTask bool
	tasks   []string
	// img is the helper's image; hadRecord: the workspace was recorded
	// before this call; recordedNew: this call recorded it (undo takes
	// that back).
	img         image.InspectResponse
	hadRecord   bool
	recordedNew bool
	kind        string // of the registry, as read (claims.RegistryKind)
}

// wantKind is the kind of registry this preparer's workspaces live in.
func (p *helperPreparer) wantKind() string {
	if p.cfg.Mode == sandbox.ModeVolumeSubpath {
		return claims.KindVolume
	}
	return claims.KindBind
}

func (m *Manager) newHelperPreparer(ctx context.Context, subdir string, cfg sandbox.Config, img image.InspectResponse, plan sandbox.MountPlan) (*helperPreparer, error) {
	p := &helperPreparer{m: m, subdir: subdir, cfg: cfg, plan: plan, img: img}
	if cfg.Mode == sandbox.ModeVolumeSubpath {
		p.self = claims.Claim{Subdir: subdir, Volume: cfg.WorkspaceVolume, Subpath: subdir}
		if dev, _ := cfg.BindDevices(); dev != "" {
			p.self.Host = path.Join(dev, subdir)
		}
	} else if len(plan.Mounts) > 0 {
		p.self = claims.Claim{Subdir: subdir, Bind: plan.Mounts[0].Source}
	}
	hc := &container.HostConfig{NetworkMode: "none", Mounts: append(plan.Helper, volumeShadows(img, plan.Helper)...)}
	id, err := m.createTemp(ctx, helperPrefix, &container.Config{
		Image: img.ID, Entrypoint: []string{"true"}, Labels: temporaryLabels(map[string]string{sandbox.LabelHelper: "prepare"}),
	}, hc, nil)
	if err != nil {
		return nil, fmt.Errorf("create helper container: %w", err)
	}
	p.id = id
	return p, nil
}

// volumeShadows are tmpfs mounts over the VOLUME paths an image declares,
// so that a container that only serves as a helper gets no anonymous volume.
func volumeShadows(img image.InspectResponse, mounts []mount.Mount) []mount.Mount {
	if img.Config == nil {
		return nil
	}
	var out []mount.Mount
	for _, v := range slices.Sorted(maps.Keys(img.Config.Volumes)) {
		taken := false
		for _, m := range mounts {
			taken = taken || path.Clean(v) == m.Target || strings.HasPrefix(path.Clean(v), m.Target+"/")
		}
		if !taken {
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: path.Clean(v)})
		}
	}
	return out
}

func (p *helperPreparer) mounts() []mount.Mount { return p.plan.Mounts }

func (p *helperPreparer) claim() claims.Claim { return p.self }

func (p *helperPreparer) where() string {
	if p.cfg.Mode == sandbox.ModeVolumeSubpath {
		return "volume " + p.cfg.WorkspaceVolume
	}
	return p.cfg.WorkspaceRoot + " on the engine's host"
}

func (p *helperPreparer) records(ctx context.Context) ([]claims.Claim, error) {
	var reg claims.Registry
	var err error
	// The engine archives the registry as it finds it: a record that
	// another ensure is writing at that moment can change size under the
	// archiver, which then ends the stream early. Read again.
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
			}
		}
		var rc io.ReadCloser
		rc, _, err = p.m.client.CopyFromContainer(ctx, p.id, path.Join(p.rootInHelper(), sandbox.RegistryDir))
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the records of %s: %w", p.where(), err)
		}
		reg, err = claims.RecordsFromTar(rc)
		rc.Close()
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read the records of %s: %w", p.where(), err)
	}
	p.tasks, p.kind = reg.Tasks, reg.Kind
	p.hadRecord = slices.Contains(reg.Subdirs, p.subdir)
	if p.cfg.Mode == sandbox.ModeVolumeSubpath {
		return claims.FromRecords(reg.Subdirs, "", p.cfg.WorkspaceVolume, p.where()), nil
	}
	return claims.FromRecords(reg.Subdirs, p.cfg.WorkspaceRoot, "", p.where()), nil
}

// reserve checks the new workspace against the records; its own record is
// written with its directories (finish). On an engine's host the root is
// looked at first (and made, saying it is one, when missing).
func (p *helperPreparer) reserve(ctx context.Context, check func([]claims.Claim) error) error {
	if p.cfg.Mode == sandbox.ModeBind {
		// The shared directory first: a refused one leaves no root made.
		if _, err := p.checkShared(ctx); err != nil {
			return err
		}
		if err := p.checkRoot(ctx); err != nil {
			return err
		}
	}
	if p.cfg.Mode == sandbox.ModeVolumeSubpath {
		// A shared volume that holds records is the workspace volume of
		// another configuration: every workspace container would see its
		// workspaces.
		_, err := p.m.client.ContainerStatPath(ctx, p.id, path.Join(sandbox.HelperSharedPoint, sandbox.RegistryDir))
		switch {
		case err == nil:
			return fmt.Errorf("shared volume %s holds %s: it is the workspace volume of other workspaces, which every workspace container "+
				"would see; refused (every workspace container can write the shared volume: if a tenant made %s there, remove it)", p.cfg.SharedVolume, sandbox.RegistryDir, sandbox.RegistryDir)
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("look at shared volume %s: %w", p.cfg.SharedVolume, err)
		}
	}
	records, err := p.records(ctx)
	if err != nil {
		return err
	}
	if err := claims.KindConflict(p.kind, p.wantKind(), p.where()); err != nil {
		return err
	}
	if err := check(records); err != nil {
		return err
	}
	return p.checkNotATask(ctx)
}

// checkNotATask refuses, on an engine that is a node of a Swarm, a
// container of its own for a workspace that the Swarm runs from this
// volume (or one it nests with): while the service has no task (scaled to
// 0, its task gone) no container tells it, its record does.
func (p *helperPreparer) checkNotATask(ctx context.Context) error {
	if p.forTask {
		return nil
	}
	for _, t := range p.tasks {
		if !claims.SubdirsNest(t, p.subdir) {
			continue
		}
		info, err := p.m.client.Info(ctx)
		if err != nil {
			return fmt.Errorf("ask the engine whether it is a node of an orchestrator: %w", err)
		}
		if info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
			return nil
		}
		return fmt.Errorf("%w: workspace %q: a Swarm runs workspace %q from %s on this node (its service may have no task now); "+
			"ensure it through the Swarm (%w); refused", sandbox.ErrOverlap, p.subdir, t, p.where(), sandbox.ErrOrchestrated)
	}
	return nil
}

func (p *helperPreparer) userDB(string) string { return p.id }

// finish makes the directories and the record; the helper is removed then,
// before the new container starts.
func (p *helperPreparer) finish(ctx context.Context, own hostfs.Owner) error {
	if err := p.prepare(ctx, own); err != nil {
		return err
	}
	p.close(ctx)
	return nil
}

func (p *helperPreparer) prepare(ctx context.Context, own hostfs.Owner) error {
	var shared *hostPathCheck
	if p.cfg.Mode == sandbox.ModeBind {
		if err := p.markRoot(ctx); err != nil {
			return err
		}
		// Looked at again: making the root may have made its parents.
		var err error
		if shared, err = p.checkShared(ctx); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(name string, o hostfs.Owner, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: o.UID, Gid: o.GID, ModTime: now})
	}
	missing, err := p.missing(ctx, p.rootInHelper(), p.subdir)
	if err != nil {
		return err
	}
	for _, d := range missing {
		o := hostfs.Owner{} // a parent: root's
		if d == p.subdir {
			o = own
		}
		if err := dir(d, o, 0o755); err != nil {
			return err
		}
	}
	if err := p.writeRecords(tw, now); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := p.copyIn(ctx, p.rootInHelper(), buf.Bytes()); err != nil {
		return fmt.Errorf("create workspace %q in %s: %w", p.subdir, p.where(), err)
	}
	p.recordedNew = !p.hadRecord
	if shared != nil {
		return p.makeShared(ctx, shared, own)
	}
	return nil
}

// writeRecords writes the registry's entries of the workspace into an
// archive: its directories, its kind, the workspace's record (and its task
// record, for an orchestrator's task).
func (p *helperPreparer) writeRecords(tw *tar.Writer, now time.Time) error {
	name, content := claims.RecordFor(p.subdir)
	records := []string{claims.RegistryPath}
	if p.forTask {
		records = append(records, claims.TasksPath)
	}
	for _, d := range append([]string{sandbox.RegistryDir}, records...) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o700, ModTime: now}); err != nil {
			return err
		}
	}
	files := map[string][]byte{path.Join(sandbox.RegistryDir, claims.RegistryKind): []byte(p.wantKind())}
	for _, d := range records {
		files[path.Join(d, name)] = content
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f, Mode: 0o644, Size: int64(len(files[f])), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(files[f]); err != nil {
			return err
		}
	}
	return nil
}

// copyIn extracts an archive of directories (and records) into the helper.
// Another ensure may extract the same entries at the same moment (two
// workspaces of one root or volume made at once): the engine makes a
// directory it found missing with mkdir, which fails with EEXIST when the
// other made it in between, and replaces a file (a record) by removing and
// making it, so that its chown can find it gone (ENOENT). The archive is
// extracted again then: the engine keeps the directory that is there now,
// giving it the hostfs.Owner and mode of the archive, and writes the record again.
// Who could have made them is root alone: each directory is made only
// where nobody else can write.
func (p *helperPreparer) copyIn(ctx context.Context, dst string, archive []byte) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
			}
		}
		err = p.m.client.CopyToContainer(ctx, p.id, dst, bytes.NewReader(archive), container.CopyToContainerOptions{})
		if !extractRace(err) {
			return err
		}
	}
	return err
}

// rootInHelper is where the helper sees the volume or the workspace root.
func (p *helperPreparer) rootInHelper() string {
	if p.cfg.Mode == sandbox.ModeBind {
		return sandbox.InHelper(p.cfg.WorkspaceRoot)
	}
	return sandbox.HelperVolumePoint
}

// missing looks at each element of rel below base, as the engine sees it,
// and returns those that do not exist (slash paths relative to base); a
// symlink or a non-directory is refused. On an engine's host the parents
// must also be root's and writable by nobody else (whoever can write one
// could redirect the engine's mount), and none may be the root of other
// workspaces.
func (p *helperPreparer) missing(ctx context.Context, base, rel string) ([]string, error) {
	elems := strings.Split(rel, "/")
	for i := range elems {
		sub := strings.Join(elems[:i+1], "/")
		var exists bool
		var err error
		if p.cfg.Mode == sandbox.ModeBind {
			exists, err = p.lookAtHostElem(ctx, path.Join(base, sub), i < len(elems)-1)
		} else {
			exists, err = p.lookAt(ctx, path.Join(base, sub), sub)
		}
		if err != nil {
			return nil, err
		}
		if !exists {
			var out []string
			for j := i; j < len(elems); j++ {
				out = append(out, strings.Join(elems[:j+1], "/"))
			}
			return out, nil
		}
	}
	return nil, nil
}

// lookAt tells whether a directory exists in a volume, refusing a symlink,
// a non-directory, or the root of other workspaces; nobody but containers
// writes a volume, and none sees its top, so a stat is enough.
func (p *helperPreparer) lookAt(ctx context.Context, where, what string) (bool, error) {
	st, err := p.m.client.ContainerStatPath(ctx, p.id, where)
	switch {
	case cerrdefs.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for %s in %s: %w", what, p.where(), err)
	case st.Mode&os.ModeSymlink != 0:
		return false, fmt.Errorf("workspace %q: %s in %s is a symlink: %w", p.subdir, what, p.where(), hostfs.ErrSymlink)
	case !st.Mode.IsDir():
		return false, fmt.Errorf("workspace %q: %s in %s is not a directory", p.subdir, what, p.where())
	}
	// A directory that holds records is the root of other workspaces (a
	// volume that binds a directory above another configuration's root).
	_, err = p.m.client.ContainerStatPath(ctx, p.id, path.Join(where, sandbox.RegistryDir))
	switch {
	case err == nil:
		return false, fmt.Errorf("%w: workspace %q: %s in %s holds %s: it is the root of other workspaces (another configuration's), "+
			"which this one would hold or lie in; nothing was changed", sandbox.ErrOverlap, p.subdir, what, p.where(), sandbox.RegistryDir)
	case !cerrdefs.IsNotFound(err):
		return false, fmt.Errorf("look for %s in %s: %w", what, p.where(), err)
	}
	return true, nil
}

// undo: what a helper made cannot be removed through the engine's API;
// an empty directory stays, as after `rm`. A record this call wrote is
// emptied (an empty record is none): the workspace's place is free again,
// and a root that records nothing is no root (isRoot).
func (p *helperPreparer) undo(ctx context.Context) {
	if !p.recordedNew {
		return
	}
	q, err := p.m.newHelperPreparer(ctx, p.subdir, p.cfg, p.img, p.plan)
	if err != nil {
		return
	}
	defer q.close(ctx)
	if q.emptyRecord(ctx) == nil {
		p.recordedNew = false
	}
}

// emptyRecord empties the record of the workspace (an empty record is
// none): through the helper, the only way to take one back.
func (p *helperPreparer) emptyRecord(ctx context.Context) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	name, _ := claims.RecordFor(p.subdir)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(claims.RegistryPath, name), Mode: 0o644, ModTime: time.Now()}); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return p.copyIn(ctx, p.rootInHelper(), buf.Bytes())
}

// gone: nothing but a helper removes what a helper made.
func (p *helperPreparer) gone() bool { return false }

func (p *helperPreparer) close(ctx context.Context) {
	if p.id != "" {
		_ = p.m.removeTemp(ctx, p.id)
		p.id = ""
	}
}
