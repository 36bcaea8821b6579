package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is a small engine with state: containers (names, states,
// labels, mounts, creation order), images, networks, and volumes (and
// remote bind roots) as in-memory file trees that helper containers read
// and write through the archive calls. Hooks inject failures and
// concurrent callers; calls are recorded ("create:gws_new", "rename:gws-a").
type fakeEngine struct {
	mu       sync.Mutex
	version  string
	ctrs     map[string]*fakeCtr // by ID
	images   map[string]image.InspectResponse
	networks map[string]bool
	fs       map[string]*memFS // a volume by name, a remote bind root by path
	passwd   string            // /etc/passwd of the image
	clock    time.Time
	calls    []string

	onCreate  func(name string, cfg *container.Config, hc *container.HostConfig) error
	onStart   func(c *fakeCtr) error
	onRename  func(c *fakeCtr, newName string) error
	onList    func()
	onInspect func(c *fakeCtr)
	onWait    func(c *fakeCtr) bool // true: the container disappears
	onPull    func(ref string) (io.ReadCloser, error)
	onCopyTo  func(p string) error // before the archive is extracted
	nodeID    string               // Info: the Swarm node it is
	// vols are the volumes a mount made, with their driver and options
	// (the first mount's: the engine keeps a volume as it was made). A
	// name not in it is a plain local volume that exists.
	vols map[string]volume.Volume
	// onCopyFrom, when it returns a reader, answers CopyFromContainer.
	onCopyFrom func(p string) io.ReadCloser
}

type fakeCtr struct {
	id, name string
	created  time.Time
	state    container.ContainerState
	cfg      container.Config
	hc       container.HostConfig
	imageID  string
	started  time.Time
	procs    []string        // what top shows but init and sleep
	cpu      uint64          // CPU time used, ns
	execs    map[string]bool // exec sessions: running or not
	size     int64           // SizeRw
}

func newFakeEngine() *fakeEngine {
	img := image.InspectResponse{ID: imgID, Config: &dockerspec.DockerOCIImageConfig{}}
	img.Config.User = "agent"
	return &fakeEngine{
		version:  "1.51",
		ctrs:     map[string]*fakeCtr{},
		images:   map[string]image.InspectResponse{DefaultImage: img},
		networks: map[string]bool{},
		fs:       map[string]*memFS{},
		passwd:   fmt.Sprintf("root:x:0:0::/root:/bin/sh\nagent:x:%d:%d::/home/agent:/bin/sh\n", os.Getuid(), os.Getgid()),
		clock:    time.Now().Add(-time.Minute).Truncate(time.Second),
	}
}

func (f *fakeEngine) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeEngine) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

// kind is how a name shows in the call list: temporary names by prefix.
func kind(name string) string {
	for _, p := range []string{tempPrefix, oldPrefix, helperPrefix} {
		if strings.HasPrefix(name, p) {
			return strings.TrimSuffix(p, "_")
		}
	}
	return name
}

func (f *fakeEngine) find(ref string) *fakeCtr {
	ref = strings.TrimPrefix(ref, "/")
	if c, ok := f.ctrs[ref]; ok {
		return c
	}
	for _, c := range f.ctrs {
		if c.name == ref {
			return c
		}
	}
	return nil
}

// add puts a container on the engine as if created earlier.
func (f *fakeEngine) add(name string, state container.ContainerState, cfg container.Config, hc container.HostConfig) *fakeCtr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(name, state, cfg, hc)
}

func (f *fakeEngine) addLocked(name string, state container.ContainerState, cfg container.Config, hc container.HostConfig) *fakeCtr {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	f.clock = f.clock.Add(time.Second)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	c := &fakeCtr{id: hex.EncodeToString(b), name: name, created: f.clock, state: state, cfg: cfg, hc: hc, imageID: imgID}
	f.ctrs[c.id] = c
	return c
}

func (c *fakeCtr) mountPoints() []container.MountPoint {
	var out []container.MountPoint
	for _, m := range c.hc.Mounts {
		mp := container.MountPoint{Type: m.Type, Destination: m.Target, Source: m.Source, RW: true}
		if m.Type == mount.TypeVolume {
			mp.Name, mp.Source = m.Source, "/var/lib/docker/volumes/"+m.Source+"/_data"
		}
		out = append(out, mp)
	}
	return out
}

func (c *fakeCtr) inspect() container.InspectResponse {
	cfg := c.cfg
	hc := c.hc
	var execs []string
	for id := range c.execs {
		execs = append(execs, id)
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: c.id, Name: "/" + c.name, Image: c.imageID, Created: c.created.Format(time.RFC3339Nano),
			State: &container.State{
				Status: c.state, Running: c.state == container.StateRunning, Paused: c.state == container.StatePaused,
				Dead: c.state == container.StateDead, StartedAt: c.started.Format(time.RFC3339Nano),
			},
			HostConfig: &hc,
			ExecIDs:    execs,
		},
		Config: &cfg,
		Mounts: c.mountPoints(),
	}
}

func (f *fakeEngine) ClientVersion() string { return f.version }

// Info says which Swarm node the engine is (as a node's engine does).
func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	var info system.Info
	info.Swarm.NodeID = f.nodeID
	if f.nodeID != "" {
		info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	}
	return info, nil
}

func (f *fakeEngine) ServerVersion(context.Context) (types.Version, error) {
	return types.Version{Version: "28.5.2", APIVersion: f.version, Os: "linux"}, nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create:%s", kind(name))
	if f.onCreate != nil {
		if err := f.onCreate(name, cfg, hc); err != nil {
			return container.CreateResponse{}, err
		}
	}
	if f.find(name) != nil {
		return container.CreateResponse{}, errConflict
	}
	img, ok := f.images[cfg.Image]
	if !ok {
		for _, i := range f.images {
			if i.ID == cfg.Image {
				img, ok = i, true
			}
		}
	}
	if !ok {
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + cfg.Image)
	}
	for _, m := range hc.Mounts {
		if m.Type != mount.TypeVolume || m.Source == "" {
			continue
		}
		if f.vols == nil {
			f.vols = map[string]volume.Volume{}
		}
		if _, ok := f.vols[m.Source]; !ok {
			v := volume.Volume{Name: m.Source, Driver: "local"}
			if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
				v.Driver, v.Options = m.VolumeOptions.DriverConfig.Name, m.VolumeOptions.DriverConfig.Options
			}
			f.vols[m.Source] = v
		}
	}
	c := *cfg
	if c.User == "" && img.Config != nil {
		c.User = img.Config.User
	}
	if img.Config != nil && len(img.Config.Volumes) > 0 {
		c.Volumes = img.Config.Volumes
	}
	ctr := f.addLocked(name, container.StateCreated, c, *hc)
	ctr.imageID = img.ID
	return container.CreateResponse{ID: ctr.id}, nil
}

func (f *fakeEngine) ContainerInspect(_ context.Context, ref string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(ref)
	if c == nil {
		f.record("inspect:%s", kind(ref))
		return container.InspectResponse{}, errNotFound
	}
	f.record("inspect:%s", kind(c.name))
	if f.onInspect != nil {
		f.onInspect(c)
	}
	return c.inspect(), nil
}

func (f *fakeEngine) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	if f.onList != nil {
		f.onList()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("list")
	var res []*regexp.Regexp
	for _, n := range opts.Filters.Get("name") {
		res = append(res, regexp.MustCompile(n))
	}
	var out []container.Summary
	for _, c := range f.ctrs {
		ok := len(res) == 0
		for _, re := range res {
			ok = ok || re.MatchString("/"+c.name)
		}
		if !ok || !matchLabels(opts.Filters.Get("label"), c.cfg.Labels) {
			continue
		}
		out = append(out, container.Summary{
			ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image, ImageID: c.imageID, Labels: c.cfg.Labels,
			State: c.state, Created: c.created.Unix(), Mounts: c.mountPoints(), SizeRw: c.size,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Names[0] < out[j].Names[0] })
	return out, nil
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, opts container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		f.record("remove:?")
		return errNotFound
	}
	f.record("remove:%s", kind(c.name))
	if c.state == container.StateRemoving {
		return cerrdefs.ErrConflict.WithMessage("removal of container " + c.name + " is already in progress")
	}
	if c.state == container.StateRunning && !opts.Force {
		return cerrdefs.ErrConflict.WithMessage("container is running")
	}
	delete(f.ctrs, c.id)
	return nil
}

func (f *fakeEngine) ContainerRename(_ context.Context, id, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		f.record("rename:?")
		return errNotFound
	}
	f.record("rename:%s->%s", kind(c.name), kind(newName))
	if f.onRename != nil {
		if err := f.onRename(c, newName); err != nil {
			return err
		}
	}
	if f.find(newName) != nil {
		return errConflict
	}
	c.name = newName
	return nil
}

func (f *fakeEngine) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		f.record("start:?")
		return errNotFound
	}
	f.record("start:%s", kind(c.name))
	if f.onStart != nil {
		if err := f.onStart(c); err != nil {
			return err
		}
	}
	switch c.state {
	case container.StateRemoving, container.StateDead:
		return cerrdefs.ErrConflict.WithMessage("container is marked for removal and cannot be started")
	}
	c.state = container.StateRunning
	c.started = time.Now()
	return nil
}

func (f *fakeEngine) ContainerRestart(_ context.Context, id string, _ container.StopOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return errNotFound
	}
	f.record("restart:%s", kind(c.name))
	c.state, c.started = container.StateRunning, time.Now()
	return nil
}

func (f *fakeEngine) ContainerTop(_ context.Context, id string, _ []string) (container.TopResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return container.TopResponse{}, errNotFound
	}
	f.record("top:%s", kind(c.name))
	top := container.TopResponse{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}}
	for i, cmd := range append([]string{"/sbin/docker-init -- sleep infinity", "sleep infinity"}, c.procs...) {
		top.Processes = append(top.Processes, []string{"1000", fmt.Sprint(100 + i), "1", "0", "00:00", "?", "00:00:00", cmd})
	}
	return top, nil
}

func (f *fakeEngine) ContainerStatsOneShot(_ context.Context, id string) (container.StatsResponseReader, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return container.StatsResponseReader{}, errNotFound
	}
	f.record("stats:%s", kind(c.name))
	var stats container.StatsResponse
	stats.CPUStats.CPUUsage.TotalUsage = c.cpu
	b, _ := json.Marshal(stats)
	return container.StatsResponseReader{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (f *fakeEngine) ContainerExecInspect(_ context.Context, id string) (container.ExecInspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if running, ok := c.execs[id]; ok {
			return container.ExecInspect{ExecID: id, ContainerID: c.id, Running: running, Pid: 42}, nil
		}
	}
	return container.ExecInspect{}, errNotFound
}

func (f *fakeEngine) ContainerStop(_ context.Context, id string, _ container.StopOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return errNotFound
	}
	f.record("stop:%s", kind(c.name))
	c.state = container.StateExited
	return nil
}

func (f *fakeEngine) ContainerUnpause(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return errNotFound
	}
	f.record("unpause:%s", kind(c.name))
	c.state = container.StateRunning
	return nil
}

// ContainerWait(removed): a container being removed disappears now; a dead
// one stays (a failed removal) unless onWait says otherwise.
func (f *fakeEngine) ContainerWait(ctx context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	done, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	c := f.find(id)
	if c == nil {
		f.record("wait:?")
		done <- container.WaitResponse{}
		return done, errs
	}
	f.record("wait:%s", kind(c.name))
	gone := c.state == container.StateRemoving
	if f.onWait != nil {
		gone = f.onWait(c)
	}
	if gone {
		delete(f.ctrs, c.id)
		done <- container.WaitResponse{}
		return done, errs
	}
	go func() {
		<-ctx.Done()
		errs <- ctx.Err()
	}()
	return done, errs
}

// hostEntry is an entry of a remote engine's host, whose top-level
// directories are trees of their own (as a helper binds them); nil: none.
func (f *fakeEngine) hostEntry(p string) *memEntry {
	top, rel, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/"), "/")
	if fs := f.fs["/"+top]; fs != nil {
		return fs.entries[rel]
	}
	return nil
}

// setHost puts an entry on a remote engine's host.
func (f *fakeEngine) setHost(p string, e *memEntry) {
	top, rel, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/"), "/")
	if f.fs["/"+top] == nil {
		f.fs["/"+top] = newMemFS()
	}
	entries := f.fs["/"+top].entries
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if entries[d] == nil {
			entries[d] = &memEntry{dir: true}
		}
	}
	entries[rel] = e
}

// mountFor finds the in-memory tree behind a path of a container.
func (f *fakeEngine) mountFor(c *fakeCtr, p string) (*memFS, string, bool) {
	for _, m := range c.hc.Mounts {
		if p == m.Target || strings.HasPrefix(p, m.Target+"/") {
			key := m.Source
			fs := f.fs[key]
			if fs == nil {
				fs = newMemFS()
				f.fs[key] = fs
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p, m.Target), "/")
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				rel = path.Join(m.VolumeOptions.Subpath, rel)
			}
			return fs, rel, true
		}
	}
	return nil, "", false
}

func (f *fakeEngine) CopyFromContainer(_ context.Context, id, p string) (io.ReadCloser, container.PathStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return nil, container.PathStat{}, errNotFound
	}
	f.record("copyfrom:%s:%s", kind(c.name), p)
	if f.onCopyFrom != nil {
		if rc := f.onCopyFrom(p); rc != nil {
			return rc, container.PathStat{}, nil
		}
	}
	if p == "/etc/passwd" {
		if f.passwd == "" {
			return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("Could not find the file /etc/passwd")
		}
		return tarOf(map[string]string{"passwd": f.passwd}), container.PathStat{}, nil
	}
	fs, rel, ok := f.mountFor(c, p)
	if !ok {
		return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("no such file")
	}
	rc, err := fs.archive(rel)
	return rc, container.PathStat{}, err
}

func (f *fakeEngine) ContainerStatPath(_ context.Context, id, p string) (container.PathStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return container.PathStat{}, errNotFound
	}
	f.record("stat:%s", p)
	fs, rel, ok := f.mountFor(c, p)
	if !ok {
		return container.PathStat{}, cerrdefs.ErrNotFound
	}
	e, ok := fs.entries[rel]
	if !ok {
		return container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("lstat " + p + ": no such file or directory")
	}
	switch {
	case e.link != "":
		return container.PathStat{Name: path.Base(p), Mode: os.ModeSymlink | 0o777, LinkTarget: e.link}, nil
	case e.dir:
		return container.PathStat{Name: path.Base(p), Mode: os.ModeDir | 0o755}, nil
	}
	return container.PathStat{Name: path.Base(p), Mode: 0o644}, nil
}

func (f *fakeEngine) CopyToContainer(_ context.Context, id, p string, content io.Reader, _ container.CopyToContainerOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return errNotFound
	}
	f.record("copyto:%s:%s", kind(c.name), p)
	if f.onCopyTo != nil {
		if err := f.onCopyTo(p); err != nil {
			return err
		}
	}
	fs, rel, ok := f.mountFor(c, p)
	if !ok {
		return cerrdefs.ErrInvalidArgument.WithMessage("extraction point is not a directory")
	}
	tr := tar.NewReader(content)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Join(rel, strings.TrimSuffix(hdr.Name, "/"))
		e := &memEntry{uid: hdr.Uid, gid: hdr.Gid}
		if hdr.Typeflag == tar.TypeDir {
			e.dir, e.mode = true, int(hdr.Mode)
		} else {
			b, _ := io.ReadAll(tr)
			e.data = string(b)
		}
		fs.entries[name] = e
	}
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("image:%s", ref)
	img, ok := f.images[ref]
	if !ok {
		return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	return img, nil
}

func (f *fakeEngine) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.record("pull:%s", ref)
	f.mu.Unlock()
	if f.onPull == nil {
		return nil, errors.New("no registry here")
	}
	return f.onPull(ref)
}

func (f *fakeEngine) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("network:%s", name)
	if !f.networks[name] {
		return network.Inspect{}, cerrdefs.ErrNotFound.WithMessage("network " + name + " not found")
	}
	return network.Inspect{Name: name}, nil
}

func (f *fakeEngine) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return nil, nil
}

func (f *fakeEngine) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.vols[name]; ok {
		return v, nil
	}
	if f.nodeID != "" || f.vols != nil { // only what a mount made, or a test set
		return volume.Volume{}, cerrdefs.ErrNotFound.WithMessage("no such volume")
	}
	return volume.Volume{Name: name, Driver: "local"}, nil
}

func (f *fakeEngine) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out volume.ListResponse
	for _, name := range sortedKeys(f.vols) {
		v := f.vols[name]
		out.Volumes = append(out.Volumes, &v)
	}
	return out, nil
}

// names lists the containers' names, sorted, with their states.
func (f *fakeEngine) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.ctrs {
		out = append(out, kind(c.name)+":"+string(c.state))
	}
	sort.Strings(out)
	return out
}

func (f *fakeEngine) byName(name string) *fakeCtr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(name)
}

// memFS is a volume's (or a remote root's) file tree: entries by slash
// path relative to its top ("" is the top).
type memFS struct{ entries map[string]*memEntry }

type memEntry struct {
	dir      bool
	link     string
	data     string
	uid, gid int
	mode     int // of a directory; 0: 0755
}

func newMemFS() *memFS { return &memFS{entries: map[string]*memEntry{"": {dir: true}}} }

// archive is what CopyFromContainer of p returns: the entry itself first
// (a directory, a symlink, a file), then, for a directory, what it holds.
func (fs *memFS) archive(p string) (io.ReadCloser, error) {
	e, ok := fs.entries[p]
	if !ok {
		return nil, cerrdefs.ErrNotFound.WithMessage("no such file or directory")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, e *memEntry) {
		hdr := &tar.Header{Name: name, Mode: 0o755, Uid: e.uid, Gid: e.gid, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		switch {
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, e.link, 0
		case e.dir:
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, name+"/", 0
			if e.mode != 0 {
				hdr.Mode = int64(e.mode)
			}
		}
		_ = tw.WriteHeader(hdr)
		if hdr.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(e.data))
		}
	}
	base := path.Base("/" + p)
	if p == "" {
		base = "top"
	}
	write(base, e)
	if e.dir {
		for _, name := range sortedKeys(fs.entries) {
			if p == "" && name != "" || strings.HasPrefix(name, p+"/") {
				write(path.Join(base, strings.TrimPrefix(strings.TrimPrefix(name, p), "/")), fs.entries[name])
			}
		}
	}
	_ = tw.Close()
	return io.NopCloser(&buf), nil
}

func tarOf(files map[string]string) io.ReadCloser {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(files[name]))})
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	return io.NopCloser(&buf)
}
