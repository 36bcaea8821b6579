// Package sandboxtest holds the fakes that the tests of every package use:
// a small engine with state (Engine) and a Swarm manager in memory (Swarm).
// They answer as the real ones do, as far as the code of this module asks
// them; a call they do not answer panics.
package sandboxtest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
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
	"github.com/docker/docker/pkg/stdcopy"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Engine is a small engine with state: containers (names, states,
// labels, mounts, creation order), images, networks, and volumes (and
// remote bind roots) as in-memory file trees that helper containers read
// and write through the archive calls. Hooks inject failures and
// concurrent callers; calls are recorded ("create:gws_new", "rename:gws-a").
type Engine struct {
	// APIClient answers what the fake does not: a call of it panics (a nil
	// interface), so a test sees at once what it did not expect.
	client.APIClient

	Mu         sync.Mutex
	APIVersion string
	Ctrs       map[string]*Ctr // by ID
	Images     map[string]image.InspectResponse
	// SwarmManager: its ping says it manages a Swarm.
	SwarmManager bool
	// NoCgroupLimits: its kernel can apply no CPU, memory or process
	// limit (Info says so).
	NoCgroupLimits bool
	Networks       map[string]network.Summary
	FS             map[string]*MemFS // a volume by name, a remote bind root by path
	Passwd         string            // /etc/passwd of the image
	Clock          time.Time
	CallLog        []string

	OnCreate  func(name string, cfg *container.Config, hc *container.HostConfig) error
	OnStart   func(c *Ctr) error
	OnStop    func(c *Ctr, opts container.StopOptions) error
	OnRemove  func(c *Ctr, opts container.RemoveOptions) error
	OnRename  func(c *Ctr, newName string) error
	OnList    func()
	OnInspect func(c *Ctr)
	OnWait    func(c *Ctr) bool // true: the container disappears
	OnPull    func(ref string) (io.ReadCloser, error)
	OnCopyTo  func(p string) error // before the archive is extracted
	NodeID    string               // Info: the Swarm node it is
	// vols are the volumes a mount made, with their driver and options
	// (the first mount's: the engine keeps a volume as it was made). A
	// name not in it is a plain local volume that exists.
	Vols  map[string]volume.Volume
	idSeq map[string]int
	// Down, when set, is the error of every call: an engine that cannot
	// be reached.
	Down error
	// Hung: the engine accepts calls and never answers them (inspect and
	// list wait until the caller gives up).
	Hung bool
	// onCopyFrom, when it returns a reader, answers CopyFromContainer.
	OnCopyFrom func(p string) io.ReadCloser
	// OnExec runs an exec of a running container: what it writes to stdout
	// and stderr, and its exit code. Without it, an exec is refused.
	OnExec func(c *Ctr, cmd []string) (stdout, stderr string, code int)
	// Logs is the output of a container (stdout), by name.
	Logs  map[string]string
	execs map[string]execResult
}

// execResult is what an exec wrote, and its exit code.
type execResult struct {
	stdout, stderr string
	code           int
}

// Ctr is a container of the fake engine.
type Ctr struct {
	ID, Name string
	Created  time.Time
	State    container.ContainerState
	Cfg      container.Config
	HC       container.HostConfig
	ImageID  string
	Started  time.Time
	Procs    []string        // what top shows but init and sleep
	CPU      uint64          // CPU time used, ns
	Execs    map[string]bool // exec sessions: running or not
	Size     int64           // SizeRw
	Status   string          // what a list says of it ("Up 2 hours")
	// Net is the networking config it was created with; Connected the
	// networks it was connected to since.
	Net       *network.NetworkingConfig
	Connected []string
}

// NewEngine returns an engine of API 1.51 with the image of
// sandbox.DefaultImage (user "agent", whose uid and gid are the caller's).
func NewEngine() *Engine {
	img := image.InspectResponse{ID: ImageID, Config: &dockerspec.DockerOCIImageConfig{}}
	img.Config.User = "agent"
	return &Engine{
		APIVersion: "1.51",
		Ctrs:       map[string]*Ctr{},
		Images:     map[string]image.InspectResponse{sandbox.DefaultImage: img},
		Networks:   map[string]network.Summary{},
		FS:         map[string]*MemFS{},
		Passwd:     fmt.Sprintf("root:x:0:0::/root:/bin/sh\nagent:x:%d:%d::/home/agent:/bin/sh\n", os.Getuid(), os.Getgid()),
		Clock:      time.Now().Add(-time.Minute).Truncate(time.Second),
	}
}

func (f *Engine) Record(format string, args ...any) {
	f.CallLog = append(f.CallLog, fmt.Sprintf(format, args...))
}

func (f *Engine) Calls() string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return strings.Join(f.CallLog, " ")
}

// Kind is how a name shows in the call list: temporary names by prefix.
func Kind(name string) string {
	for _, p := range []string{"gws_new_", "gws_old_", "gws_helper_"} {
		if strings.HasPrefix(name, p) {
			return strings.TrimSuffix(p, "_")
		}
	}
	return name
}

func (f *Engine) Find(ref string) *Ctr {
	ref = strings.TrimPrefix(ref, "/")
	if c, ok := f.Ctrs[ref]; ok {
		return c
	}
	for _, c := range f.Ctrs {
		if c.Name == ref {
			return c
		}
	}
	return nil
}

// add puts a container on the engine as if created earlier.
func (f *Engine) Add(name string, state container.ContainerState, cfg container.Config, hc container.HostConfig) *Ctr {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.AddLocked(name, state, cfg, hc)
}

// AddLocked is Add for a caller that holds Mu.
func (f *Engine) AddLocked(name string, state container.ContainerState, cfg container.Config, hc container.HostConfig) *Ctr {
	f.Clock = f.Clock.Add(time.Second)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	c := &Ctr{ID: f.newID(name, cfg.Labels[sandbox.LabelSubdir]), Name: name, Created: f.Clock, State: state, Cfg: cfg, HC: hc, ImageID: ImageID}
	f.Ctrs[c.ID] = c
	return c
}

// newID is the ID of a new container: the same for the n-th container of a
// workspace (or of a name, for others) in every run, however concurrent
// creates interleave, so that tests can compare output with golden files.
func (f *Engine) newID(name, subdir string) string {
	key := subdir
	if key == "" {
		key = name
	}
	if f.idSeq == nil {
		f.idSeq = map[string]int{}
	}
	f.idSeq[key]++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", key, f.idSeq[key])))
	return hex.EncodeToString(sum[:])
}

// IDOf is the ID the n-th container (from 1) made for a workspace subdir
// (or a name) gets.
func IDOf(key string, n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", key, n)))
	return hex.EncodeToString(sum[:])
}

func (c *Ctr) mountPoints() []container.MountPoint {
	var out []container.MountPoint
	for _, m := range c.HC.Mounts {
		mp := container.MountPoint{Type: m.Type, Destination: m.Target, Source: m.Source, RW: true}
		if m.Type == mount.TypeVolume {
			mp.Name, mp.Source = m.Source, "/var/lib/docker/volumes/"+m.Source+"/_data"
		}
		out = append(out, mp)
	}
	return out
}

func (c *Ctr) Inspect() container.InspectResponse {
	cfg := c.Cfg
	hc := c.HC
	var execs []string
	for id := range c.Execs {
		execs = append(execs, id)
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: c.ID, Name: "/" + c.Name, Image: c.ImageID, Created: c.Created.Format(time.RFC3339Nano),
			State: &container.State{
				Status: c.State, Running: c.State == container.StateRunning, Paused: c.State == container.StatePaused,
				Dead: c.State == container.StateDead, StartedAt: c.Started.Format(time.RFC3339Nano),
			},
			HostConfig: &hc,
			ExecIDs:    execs,
		},
		Config: &cfg,
		Mounts: c.mountPoints(),
	}
}

func (f *Engine) ClientVersion() string { return f.APIVersion }

// Info says which Swarm node the engine is (as a node's engine does).
func (f *Engine) Info(context.Context) (system.Info, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return system.Info{}, f.Down
	}
	info := system.Info{MemoryLimit: !f.NoCgroupLimits, CPUCfsQuota: !f.NoCgroupLimits, PidsLimit: !f.NoCgroupLimits}
	info.Swarm.NodeID = f.NodeID
	if f.NodeID != "" {
		info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	}
	return info, nil
}

func (f *Engine) ServerVersion(context.Context) (types.Version, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return types.Version{}, f.Down
	}
	return types.Version{Version: "28.5.2", APIVersion: f.APIVersion, Os: "linux"}, nil
}

func (f *Engine) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("create:%s", Kind(name))
	if f.OnCreate != nil {
		if err := f.OnCreate(name, cfg, hc); err != nil {
			return container.CreateResponse{}, err
		}
	}
	if f.Find(name) != nil {
		return container.CreateResponse{}, ErrConflict
	}
	img, ok := f.image(cfg.Image)
	if !ok {
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + cfg.Image)
	}
	f.makeVolumes(hc.Mounts)
	c := *cfg
	if c.User == "" && img.Config != nil {
		c.User = img.Config.User
	}
	if img.Config != nil && len(img.Config.Volumes) > 0 {
		c.Volumes = img.Config.Volumes
	}
	ctr := f.AddLocked(name, container.StateCreated, c, *hc)
	ctr.ImageID, ctr.Net = img.ID, nc
	return container.CreateResponse{ID: ctr.ID}, nil
}

func (f *Engine) ContainerInspect(ctx context.Context, ref string) (container.InspectResponse, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return container.InspectResponse{}, f.Down
	}
	if f.Hung {
		<-ctx.Done()
		return container.InspectResponse{}, ctx.Err()
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(ref)
	if c == nil {
		f.Record("inspect:%s", Kind(ref))
		return container.InspectResponse{}, ErrNotFound
	}
	f.Record("inspect:%s", Kind(c.Name))
	if f.OnInspect != nil {
		f.OnInspect(c)
	}
	return c.Inspect(), nil
}

func (f *Engine) ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return nil, f.Down
	}
	if f.Hung {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.OnList != nil {
		f.OnList()
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("list")
	var res []*regexp.Regexp
	for _, n := range opts.Filters.Get("name") {
		res = append(res, regexp.MustCompile(n))
	}
	var out []container.Summary
	for _, c := range f.Ctrs {
		ok := len(res) == 0
		for _, re := range res {
			ok = ok || re.MatchString("/"+c.Name)
		}
		if !ok || !matchLabels(opts.Filters.Get("label"), c.Cfg.Labels) {
			continue
		}
		out = append(out, container.Summary{
			ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Cfg.Image, ImageID: c.ImageID, Labels: c.Cfg.Labels,
			State: c.State, Status: c.Status, Created: c.Created.Unix(), Mounts: c.mountPoints(), SizeRw: c.Size,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Names[0] < out[j].Names[0] })
	return out, nil
}

func (f *Engine) ContainerRemove(_ context.Context, id string, opts container.RemoveOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		f.Record("remove:?")
		return ErrNotFound
	}
	f.Record("remove:%s", Kind(c.Name))
	if f.OnRemove != nil {
		if err := f.OnRemove(c, opts); err != nil {
			return err
		}
	}
	if c.State == container.StateRemoving {
		return cerrdefs.ErrConflict.WithMessage("removal of container " + c.Name + " is already in progress")
	}
	if c.State == container.StateRunning && !opts.Force {
		return cerrdefs.ErrConflict.WithMessage("container is running")
	}
	delete(f.Ctrs, c.ID)
	return nil
}

func (f *Engine) ContainerRename(_ context.Context, id, newName string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		f.Record("rename:?")
		return ErrNotFound
	}
	f.Record("rename:%s->%s", Kind(c.Name), Kind(newName))
	if f.OnRename != nil {
		if err := f.OnRename(c, newName); err != nil {
			return err
		}
	}
	if f.Find(newName) != nil {
		return ErrConflict
	}
	c.Name = newName
	return nil
}

func (f *Engine) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		f.Record("start:?")
		return ErrNotFound
	}
	f.Record("start:%s", Kind(c.Name))
	if f.OnStart != nil {
		if err := f.OnStart(c); err != nil {
			return err
		}
	}
	switch c.State {
	case container.StateRemoving, container.StateDead:
		return cerrdefs.ErrConflict.WithMessage("container is marked for removal and cannot be started")
	}
	c.State = container.StateRunning
	c.Started = time.Now()
	return nil
}

func (f *Engine) ContainerRestart(_ context.Context, id string, _ container.StopOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return ErrNotFound
	}
	f.Record("restart:%s", Kind(c.Name))
	c.State, c.Started = container.StateRunning, time.Now()
	return nil
}

func (f *Engine) ContainerTop(_ context.Context, id string, _ []string) (container.TopResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return container.TopResponse{}, ErrNotFound
	}
	f.Record("top:%s", Kind(c.Name))
	top := container.TopResponse{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}}
	for i, cmd := range append([]string{"/sbin/docker-init -- sleep infinity", "sleep infinity"}, c.Procs...) {
		top.Processes = append(top.Processes, []string{"1000", fmt.Sprint(100 + i), "1", "0", "00:00", "?", "00:00:00", cmd})
	}
	return top, nil
}

func (f *Engine) ContainerStatsOneShot(_ context.Context, id string) (container.StatsResponseReader, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return container.StatsResponseReader{}, ErrNotFound
	}
	f.Record("stats:%s", Kind(c.Name))
	var stats container.StatsResponse
	stats.CPUStats.CPUUsage.TotalUsage = c.CPU
	b, _ := json.Marshal(stats)
	return container.StatsResponseReader{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// ContainerStats answers two samples of a container (stream false, as
// docker stats --no-stream asks): its CPU time since the one before
// (CPU, over 1e9 ns of the host's time on 2 CPUs), 1 MiB of memory and
// 1 MiB of page cache, its memory limit (8 GiB without one), and its
// processes (init, sleep and Procs).
func (f *Engine) ContainerStats(_ context.Context, id string, _ bool) (container.StatsResponseReader, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return container.StatsResponseReader{}, ErrNotFound
	}
	f.Record("stats:%s", Kind(c.Name))
	var s container.StatsResponse
	s.CPUStats.CPUUsage.TotalUsage, s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs = c.CPU, 2e9, 2
	s.PreCPUStats.SystemUsage = 1e9
	s.MemoryStats.Usage, s.MemoryStats.Stats = 2<<20, map[string]uint64{"total_inactive_file": 1 << 20}
	s.MemoryStats.Limit = 8 << 30
	if c.HC.Memory > 0 {
		s.MemoryStats.Limit = uint64(c.HC.Memory)
	}
	s.PidsStats.Current = uint64(2 + len(c.Procs))
	b, _ := json.Marshal(s)
	return container.StatsResponseReader{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// ContainerExecCreate runs cmd through OnExec in a running container (the
// output is kept for the attach).
func (f *Engine) ContainerExecCreate(_ context.Context, id string, opts container.ExecOptions) (container.ExecCreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	switch {
	case c == nil:
		return container.ExecCreateResponse{}, ErrNotFound
	case c.State != container.StateRunning:
		return container.ExecCreateResponse{}, cerrdefs.ErrConflict.WithMessage("container " + c.ID + " is not running")
	case f.OnExec == nil:
		return container.ExecCreateResponse{}, errors.New("exec: not expected")
	}
	f.Record("exec:%s:%s", Kind(c.Name), strings.Join(opts.Cmd, " "))
	out, errOut, code := f.OnExec(c, opts.Cmd)
	if f.execs == nil {
		f.execs = map[string]execResult{}
	}
	execID := IDOf("exec", len(f.execs)+1)
	f.execs[execID] = execResult{out, errOut, code}
	return container.ExecCreateResponse{ID: execID}, nil
}

// ContainerExecAttach streams what the exec wrote, multiplexed as the
// engine does.
func (f *Engine) ContainerExecAttach(_ context.Context, id string, _ container.ExecAttachOptions) (types.HijackedResponse, error) {
	f.Mu.Lock()
	r, ok := f.execs[id]
	f.Mu.Unlock()
	if !ok {
		return types.HijackedResponse{}, ErrNotFound
	}
	var b bytes.Buffer
	_, _ = stdcopy.NewStdWriter(&b, stdcopy.Stdout).Write([]byte(r.stdout))
	_, _ = stdcopy.NewStdWriter(&b, stdcopy.Stderr).Write([]byte(r.stderr))
	conn, peer := net.Pipe()
	_ = peer.Close()
	return types.HijackedResponse{Conn: conn, Reader: bufio.NewReader(&b)}, nil
}

// ContainerLogs is the container's Logs, as stdout.
func (f *Engine) ContainerLogs(_ context.Context, id string, _ container.LogsOptions) (io.ReadCloser, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return nil, ErrNotFound
	}
	f.Record("logs:%s", Kind(c.Name))
	var b bytes.Buffer
	_, _ = stdcopy.NewStdWriter(&b, stdcopy.Stdout).Write([]byte(f.Logs[c.Name]))
	return io.NopCloser(&b), nil
}

func (f *Engine) ContainerExecInspect(_ context.Context, id string) (container.ExecInspect, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if r, ok := f.execs[id]; ok {
		return container.ExecInspect{ExecID: id, ExitCode: r.code}, nil
	}
	for _, c := range f.Ctrs {
		if running, ok := c.Execs[id]; ok {
			return container.ExecInspect{ExecID: id, ContainerID: c.ID, Running: running, Pid: 42}, nil
		}
	}
	return container.ExecInspect{}, ErrNotFound
}

func (f *Engine) ContainerStop(_ context.Context, id string, opts container.StopOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return ErrNotFound
	}
	f.Record("stop:%s", Kind(c.Name))
	if f.OnStop != nil {
		if err := f.OnStop(c, opts); err != nil {
			return err
		}
	}
	c.State = container.StateExited
	return nil
}

// ContainerPause freezes a running container.
func (f *Engine) ContainerPause(_ context.Context, id string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	switch {
	case c == nil:
		return ErrNotFound
	case c.State != container.StateRunning:
		return cerrdefs.ErrConflict.WithMessage("container " + c.ID + " is not running")
	}
	f.Record("pause:%s", Kind(c.Name))
	c.State = container.StatePaused
	return nil
}

func (f *Engine) ContainerUnpause(_ context.Context, id string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return ErrNotFound
	}
	f.Record("unpause:%s", Kind(c.Name))
	c.State = container.StateRunning
	return nil
}

// ContainerUpdate changes a container's limits as the engine does: a
// memory limit above the swap limit in force needs a swap limit too.
func (f *Engine) ContainerUpdate(_ context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return container.UpdateResponse{}, ErrNotFound
	}
	f.Record("update:%s", Kind(c.Name))
	r, have := u.Resources, &c.HC.Resources
	if r.Memory != 0 && r.Memory > have.MemorySwap && r.MemorySwap == 0 {
		return container.UpdateResponse{}, cerrdefs.ErrConflict.WithMessage("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if r.NanoCPUs != 0 {
		have.NanoCPUs = r.NanoCPUs
	}
	if r.Memory != 0 {
		have.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		have.MemorySwap = r.MemorySwap
	}
	if r.PidsLimit != nil {
		have.PidsLimit = r.PidsLimit
	}
	return container.UpdateResponse{}, nil
}

// ContainerWait(removed): a container being removed disappears now; a dead
// one stays (a failed removal) unless onWait says otherwise.
func (f *Engine) ContainerWait(ctx context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	done, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	c := f.Find(id)
	if c == nil {
		f.Record("wait:?")
		done <- container.WaitResponse{}
		return done, errs
	}
	f.Record("wait:%s", Kind(c.Name))
	gone := c.State == container.StateRemoving
	if f.OnWait != nil {
		gone = f.OnWait(c)
	}
	if gone {
		delete(f.Ctrs, c.ID)
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
func (f *Engine) HostEntry(p string) *MemEntry {
	top, rel, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/"), "/")
	if fs := f.FS["/"+top]; fs != nil {
		return fs.Entries[rel]
	}
	return nil
}

// setHost puts an entry on a remote engine's host.
func (f *Engine) SetHost(p string, e *MemEntry) {
	top, rel, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/"), "/")
	if f.FS["/"+top] == nil {
		f.FS["/"+top] = NewMemFS()
	}
	entries := f.FS["/"+top].Entries
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if entries[d] == nil {
			entries[d] = &MemEntry{Dir: true}
		}
	}
	entries[rel] = e
}

// mountFor finds the in-memory tree behind a path of a container.
func (f *Engine) mountFor(c *Ctr, p string) (*MemFS, string, bool) {
	for _, m := range c.HC.Mounts {
		if p == m.Target || strings.HasPrefix(p, m.Target+"/") {
			key := m.Source
			fs := f.FS[key]
			if fs == nil {
				fs = NewMemFS()
				f.FS[key] = fs
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

func (f *Engine) CopyFromContainer(_ context.Context, id, p string) (io.ReadCloser, container.PathStat, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return nil, container.PathStat{}, ErrNotFound
	}
	f.Record("copyfrom:%s:%s", Kind(c.Name), p)
	if f.OnCopyFrom != nil {
		if rc := f.OnCopyFrom(p); rc != nil {
			return rc, container.PathStat{}, nil
		}
	}
	if p == "/etc/passwd" {
		if f.Passwd == "" {
			return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("Could not find the file /etc/passwd")
		}
		return TarOf(map[string]string{"passwd": f.Passwd}), container.PathStat{}, nil
	}
	fs, rel, ok := f.mountFor(c, p)
	if !ok {
		return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("no such file")
	}
	rc, err := fs.archive(rel)
	return rc, container.PathStat{}, err
}

func (f *Engine) ContainerStatPath(_ context.Context, id, p string) (container.PathStat, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return container.PathStat{}, ErrNotFound
	}
	f.Record("stat:%s", p)
	fs, rel, ok := f.mountFor(c, p)
	if !ok {
		return container.PathStat{}, cerrdefs.ErrNotFound
	}
	e, ok := fs.Entries[rel]
	if !ok {
		return container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("lstat " + p + ": no such file or directory")
	}
	switch {
	case e.Link != "":
		return container.PathStat{Name: path.Base(p), Mode: os.ModeSymlink | 0o777, LinkTarget: e.Link}, nil
	case e.Dir:
		return container.PathStat{Name: path.Base(p), Mode: os.ModeDir | 0o755}, nil
	}
	return container.PathStat{Name: path.Base(p), Mode: 0o644}, nil
}

func (f *Engine) CopyToContainer(_ context.Context, id, p string, content io.Reader, _ container.CopyToContainerOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(id)
	if c == nil {
		return ErrNotFound
	}
	f.Record("copyto:%s:%s", Kind(c.Name), p)
	if f.OnCopyTo != nil {
		if err := f.OnCopyTo(p); err != nil {
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
		e := &MemEntry{UID: hdr.Uid, GID: hdr.Gid}
		if hdr.Typeflag == tar.TypeDir {
			e.Dir, e.Mode = true, int(hdr.Mode)
		} else {
			b, _ := io.ReadAll(tr)
			e.Data = string(b)
		}
		fs.Entries[name] = e
	}
}

func (f *Engine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return image.InspectResponse{}, f.Down
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("image:%s", ref)
	img, ok := f.Images[ref]
	if !ok {
		return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	return img, nil
}

func (f *Engine) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.Mu.Lock()
	f.Record("pull:%s", ref)
	f.Mu.Unlock()
	if f.OnPull == nil {
		return nil, errors.New("no registry here")
	}
	return f.OnPull(ref)
}

func (f *Engine) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("network:%s", name)
	n, ok := f.Networks[name]
	if !ok {
		return network.Inspect{}, cerrdefs.ErrNotFound.WithMessage("network " + name + " not found")
	}
	return n, nil
}

// NetworkList lists the networks whose labels match the filter's.
func (f *Engine) NetworkList(_ context.Context, opts network.ListOptions) ([]network.Summary, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return nil, f.Down
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("networks")
	var out []network.Summary
	for _, name := range slices.Sorted(maps.Keys(f.Networks)) {
		if n := f.Networks[name]; matchLabels(opts.Filters.Get("label"), n.Labels) {
			out = append(out, n)
		}
	}
	return out, nil
}

// NetworkCreate makes a network; a name taken is a conflict, a subnet
// that overlaps another network's is refused.
func (f *Engine) NetworkCreate(_ context.Context, name string, opts network.CreateOptions) (network.CreateResponse, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("netcreate:%s", name)
	if _, ok := f.Networks[name]; ok {
		return network.CreateResponse{}, cerrdefs.ErrConflict.WithMessage("network with name " + name + " already exists")
	}
	n := network.Summary{Name: name, ID: IDOf("net:"+name, 1), Driver: opts.Driver, Scope: opts.Scope, Internal: opts.Internal, ConfigOnly: opts.ConfigOnly, Options: opts.Options, Labels: opts.Labels}
	if opts.IPAM != nil {
		n.IPAM = *opts.IPAM
		for _, c := range opts.IPAM.Config {
			for _, other := range f.Networks {
				for _, oc := range other.IPAM.Config {
					if overlaps(c.Subnet, oc.Subnet) {
						return network.CreateResponse{}, cerrdefs.ErrPermissionDenied.WithMessage("Pool overlaps with other one on this address space")
					}
				}
			}
		}
	}
	f.Networks[name] = n
	return network.CreateResponse{ID: n.ID}, nil
}

// NetworkConnect connects a container to a network.
func (f *Engine) NetworkConnect(_ context.Context, name, ref string, _ *network.EndpointSettings) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := f.Find(ref)
	if c == nil {
		return ErrNotFound
	}
	f.Record("netconnect:%s:%s", name, Kind(c.Name))
	if _, ok := f.Networks[name]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("network " + name + " not found")
	}
	c.Connected = append(c.Connected, name)
	return nil
}

// NetworkRemove removes a network, by name or ID.
func (f *Engine) NetworkRemove(_ context.Context, ref string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for name, n := range f.Networks {
		if name == ref || n.ID == ref {
			f.Record("netrm:%s", name)
			delete(f.Networks, name)
			return nil
		}
	}
	return cerrdefs.ErrNotFound.WithMessage("network " + ref + " not found")
}

// VolumeRemove removes a volume.
func (f *Engine) VolumeRemove(_ context.Context, name string, _ bool) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("volrm:%s", name)
	if _, ok := f.Vols[name]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such volume")
	}
	delete(f.Vols, name)
	return nil
}

// ImageLoad loads an image archive (as docker save writes one): its tags
// name the image its config describes.
func (f *Engine) ImageLoad(_ context.Context, input io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(input)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return image.LoadResponse{}, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return image.LoadResponse{}, err
		}
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		return image.LoadResponse{}, fmt.Errorf("bad manifest: %w", err)
	}
	var cfg struct {
		Config dockerspec.DockerOCIImageConfig `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		return image.LoadResponse{}, err
	}
	sum := sha256.Sum256(files[manifest[0].Config])
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("load")
	for _, tag := range manifest[0].RepoTags {
		f.Images[tag] = image.InspectResponse{ID: "sha256:" + hex.EncodeToString(sum[:]), RepoTags: manifest[0].RepoTags, Config: &cfg.Config,
			RootFS: image.RootFS{Type: "layers", Layers: cfg.RootFS.DiffIDs}}
	}
	return image.LoadResponse{Body: io.NopCloser(strings.NewReader(`{"stream":"Loaded image"}` + "\n"))}, nil
}

// overlaps says whether two CIDRs share an address.
func overlaps(a, b string) bool {
	pa, err1 := netip.ParsePrefix(a)
	pb, err2 := netip.ParsePrefix(b)
	return err1 == nil && err2 == nil && pa.Overlaps(pb)
}

// AddNetwork puts a network on the engine.
func (f *Engine) AddNetwork(name string, labels map[string]string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Networks[name] = network.Summary{Name: name, Labels: labels}
}

func (f *Engine) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if v, ok := f.Vols[name]; ok {
		return v, nil
	}
	if f.NodeID != "" || f.Vols != nil { // only what a mount made, or a test set
		return volume.Volume{}, cerrdefs.ErrNotFound.WithMessage("no such volume")
	}
	return volume.Volume{Name: name, Driver: "local"}, nil
}

// VolumeList lists the volumes whose labels match the filter's.
func (f *Engine) VolumeList(_ context.Context, opts volume.ListOptions) (volume.ListResponse, error) {
	if f.Down != nil {
		f.Mu.Lock()
		f.Record("down")
		f.Mu.Unlock()
		return volume.ListResponse{}, f.Down
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("volumes")
	var out volume.ListResponse
	for _, name := range slices.Sorted(maps.Keys(f.Vols)) {
		if v := f.Vols[name]; matchLabels(opts.Filters.Get("label"), v.Labels) {
			out.Volumes = append(out.Volumes, &v)
		}
	}
	return out, nil
}

// AddVolume puts a volume on the engine.
func (f *Engine) AddVolume(v volume.Volume) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.Vols == nil {
		f.Vols = map[string]volume.Volume{}
	}
	if v.Driver == "" {
		v.Driver = "local"
	}
	f.Vols[v.Name] = v
}

// Ping and NegotiateAPIVersionPing answer the docker CLI as an engine of
// the fake's API version.
func (f *Engine) Ping(context.Context) (types.Ping, error) {
	p := types.Ping{APIVersion: f.APIVersion}
	if f.SwarmManager {
		p.SwarmStatus = &swarm.Status{NodeState: swarm.LocalNodeStateActive, ControlAvailable: true}
	}
	return p, nil
}

// NegotiateAPIVersionPing keeps the fake's version.
func (f *Engine) NegotiateAPIVersionPing(types.Ping) {}

// NegotiateAPIVersion keeps the fake's version.
func (f *Engine) NegotiateAPIVersion(context.Context) {}

// ImageID is the ID of the fake's image of sandbox.DefaultImage.
const ImageID = "sha256:1111"

// Errors the fake engine answers with, as an engine words them.
var (
	ErrNotFound = cerrdefs.ErrNotFound.WithMessage("No such container")
	ErrConflict = cerrdefs.ErrConflict.WithMessage("name is already in use")
)

// matchLabels applies label filters ("k=v", or "k") as the engine does:
// all must match.
func matchLabels(filters []string, labels map[string]string) bool {
	for _, f := range filters {
		k, v, hasValue := strings.Cut(f, "=")
		if have, ok := labels[k]; !ok || hasValue && have != v {
			return false
		}
	}
	return true
}

// names lists the containers' names, sorted, with their states.
func (f *Engine) Names() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for _, c := range f.Ctrs {
		out = append(out, Kind(c.Name)+":"+string(c.State))
	}
	sort.Strings(out)
	return out
}

func (f *Engine) ByName(name string) *Ctr {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Find(name)
}

// MemFS is a volume's (or a remote root's) file tree: entries by slash
// path relative to its top ("" is the top).
type MemFS struct{ Entries map[string]*MemEntry }

// MemEntry is an entry of a MemFS.
type MemEntry struct {
	Dir      bool
	Link     string
	Data     string
	UID, GID int
	Mode     int // of a directory; 0: 0755
}

// NewMemFS is an empty tree.
func NewMemFS() *MemFS { return &MemFS{Entries: map[string]*MemEntry{"": {Dir: true}}} }

// archive is what CopyFromContainer of p returns: the entry itself first
// (a directory, a symlink, a file), then, for a directory, what it holds.
func (fs *MemFS) archive(p string) (io.ReadCloser, error) {
	e, ok := fs.Entries[p]
	if !ok {
		return nil, cerrdefs.ErrNotFound.WithMessage("no such file or directory")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, e *MemEntry) {
		hdr := &tar.Header{Name: name, Mode: 0o755, Uid: e.UID, Gid: e.GID, Typeflag: tar.TypeReg, Size: int64(len(e.Data))}
		switch {
		case e.Link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, e.Link, 0
		case e.Dir:
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, name+"/", 0
			if e.Mode != 0 {
				hdr.Mode = int64(e.Mode)
			}
		}
		_ = tw.WriteHeader(hdr)
		if hdr.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(e.Data))
		}
	}
	base := path.Base("/" + p)
	if p == "" {
		base = "top"
	}
	write(base, e)
	if e.Dir {
		for _, name := range slices.Sorted(maps.Keys(fs.Entries)) {
			if p == "" && name != "" || strings.HasPrefix(name, p+"/") {
				write(path.Join(base, strings.TrimPrefix(strings.TrimPrefix(name, p), "/")), fs.Entries[name])
			}
		}
	}
	_ = tw.Close()
	return io.NopCloser(&buf), nil
}

// TarOf is a tar stream of the files (name: content).
func TarOf(files map[string]string) io.ReadCloser {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(files[name]))})
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	return io.NopCloser(&buf)
}

// Pullable makes ref an image the engine lacks until it is pulled (as the
// image of sandbox.DefaultImage); the pull says "Pulling REF".
func (f *Engine) Pullable(ref string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	img := f.Images[sandbox.DefaultImage]
	delete(f.Images, ref)
	f.OnPull = func(ref string) (io.ReadCloser, error) {
		f.Mu.Lock()
		f.Images[ref] = img
		f.Mu.Unlock()
		return io.NopCloser(strings.NewReader(`{"status":"Pulling ` + ref + `"}` + "\n")), nil
	}
}

// SetID gives a container another ID.
func (f *Engine) SetID(c *Ctr, id string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	delete(f.Ctrs, c.ID)
	c.ID = id
	f.Ctrs[id] = c
}

// image is the image a reference or an ID names.
func (f *Engine) image(ref string) (image.InspectResponse, bool) {
	if img, ok := f.Images[ref]; ok {
		return img, true
	}
	for _, i := range f.Images {
		if i.ID == ref {
			return i, true
		}
	}
	return image.InspectResponse{}, false
}

// makeVolumes makes the volumes that mounts name and the engine lacks, as
// their driver configuration says (the engine keeps a volume as it was
// made).
func (f *Engine) makeVolumes(mounts []mount.Mount) {
	for _, m := range mounts {
		if m.Type != mount.TypeVolume || m.Source == "" {
			continue
		}
		if f.Vols == nil {
			f.Vols = map[string]volume.Volume{}
		}
		if _, ok := f.Vols[m.Source]; !ok {
			v := volume.Volume{Name: m.Source, Driver: "local"}
			if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
				v.Driver, v.Options = m.VolumeOptions.DriverConfig.Name, m.VolumeOptions.DriverConfig.Options
			}
			if m.VolumeOptions != nil {
				v.Labels = m.VolumeOptions.Labels
			}
			f.Vols[m.Source] = v
		}
	}
}

// ContainerExecResize records a terminal's size.
func (f *Engine) ContainerExecResize(_ context.Context, id string, o container.ResizeOptions) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Record("resize:%dx%d", o.Height, o.Width)
	return nil
}
