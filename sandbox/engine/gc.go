package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// Besides the workspace containers (gws-…), sandbox makes short-lived
// containers of its own, never started, named so that `ls` (gws-…) does not
// list them and `docker ps -a` shows what they are:
//
//	gws_new_<hex>     a new workspace container, prepared before it takes
//	                  its name (the rename is the commit)
//	gws_old_<hex>     a replaced container, between its replacement's rename
//	                  and its removal
//	gws_helper_<hex>  a helper that mounts a whole volume or bind root to
//	                  make directories and read records there
//
// Each carries sandbox.LabelCreator. A gws_new_ or gws_helper_ container that
// outlives its process (kill -9) is garbage: the next ensure that lists the
// containers (to create or start one) removes it — at once when its process
// ran on this host and is gone, else after staleAfter. Removing one whose
// process is in fact alive is safe, only slower: that process's next call on
// it (rename, copy) fails and it starts over. A gws_old_ container, stopped,
// is left to prune.
const (
	tempPrefix   = "gws_new_"
	oldPrefix    = claims.OldPrefix
	helperPrefix = "gws_helper_"
)

// staleAfter is when a temporary container whose creator cannot be checked
// (another host) is garbage; its process would have given up long before.
const staleAfter = 15 * time.Minute

// isTempName says whether a container name is one of ours temporary
// containers (gws_new_, gws_old_ or gws_helper_, and 12 hex digits).
func isTempName(name string) bool {
	name = trimSlash(name)
	for _, p := range []string{tempPrefix, oldPrefix, helperPrefix} {
		if hex, ok := strings.CutPrefix(name, p); ok {
			return len(hex) == 12 && strings.Trim(hex, "0123456789abcdef") == ""
		}
	}
	return false
}

// tempName returns a new name of a temporary container. A gws_old_ name
// begins with the time it was set aside (8 hex digits of Unix seconds).
func tempName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	if prefix == oldPrefix {
		binary.BigEndian.PutUint32(b, uint32(time.Now().Unix()))
	}
	return prefix + hex.EncodeToString(b)
}

// adoptWindow is how long after it was set aside a container being
// replaced is taken back by the next ensure (its replacement was killed);
// an older one is left to prune: taking it back after the workspace was
// removed and made again would bring back a container the user let go.
const adoptWindow = 10 * time.Minute

// setAsideRecently says whether a gws_old_ name was given within
// adoptWindow (of this host's clock).
func setAsideRecently(name string, now time.Time) bool {
	b, err := hex.DecodeString(strings.TrimPrefix(trimSlash(name), oldPrefix))
	if err != nil || len(b) != 6 {
		return false
	}
	at := time.Unix(int64(binary.BigEndian.Uint32(b)), 0)
	return now.Sub(at) < adoptWindow && at.Sub(now) < adoptWindow
}

// thisProcess identifies this process on this host, for
// sandbox.LabelCreator: its boot, pid and start time, and its pid
// namespace (a process in a container — a server in Compose — has pids
// of its own: its pid means nothing to a process outside).
var thisProcess = sync.OnceValue(func() string {
	boot, start := bootID(), startTime(os.Getpid())
	if boot == "" || start == "" {
		return ""
	}
	return boot + ":" + strconv.Itoa(os.Getpid()) + ":" + start + ":" + pidNamespace()
})

// pidNamespace names this process's pid namespace ("pid:[4026531836]"'s
// number; "" when it cannot be told).
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, "pid:["), "]")
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTime is field 22 of /proc/PID/stat: when the process started, in
// clock ticks since boot; with the pid, it names one process of one boot.
// A process that has exited (a zombie not yet reaped) has none.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return ""
	}
	return fields[19]
}

// creatorGone says whether the process a sandbox.LabelCreator names is known to be
// gone: it ran on this host, in this boot, in this pid namespace, and no
// process with its pid and start time runs now.
func creatorGone(label string) bool {
	f := strings.Split(label, ":")
	if len(f) < 3 || f[0] == "" || f[0] != bootID() {
		return false
	}
	if len(f) > 3 && f[3] != pidNamespace() {
		// Another pid namespace (the test suite's race: a server in a
		// container had its helper taken by a prune here): not ours to
		// tell; staleAfter tells.
		return false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return false
	}
	return startTime(n) != f[2]
}

// garbage says whether a container of a container list is a temporary one
// of ours that its process left behind. now is the engine's time: the
// newest creation in the list (the caller's own container was just made),
// so that a clock skew between here and the engine does not count.
func garbage(c container.Summary, now int64) bool {
	if len(c.Names) == 0 || !isTempName(c.Names[0]) || c.State == container.StateRunning ||
		strings.HasPrefix(trimSlash(c.Names[0]), oldPrefix) {
		return false // a replaced container is for prune: its creator label is its first creator's
	}
	if _, ours := c.Labels[sandbox.LabelCreator]; !ours {
		return false
	}
	return creatorGone(c.Labels[sandbox.LabelCreator]) || time.Duration(now-c.Created)*time.Second > staleAfter
}

// collect removes the garbage of a container list (best effort), and
// returns the list without it.
func (m *Manager) collect(ctx context.Context, ctrs []container.Summary) []container.Summary {
	var now int64
	for _, c := range ctrs {
		now = max(now, c.Created)
	}
	kept := ctrs[:0:0]
	for _, c := range ctrs {
		if !garbage(c, now) {
			kept = append(kept, c)
			continue
		}
		// Its anonymous volumes are its own: it never ran.
		err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			kept = append(kept, c)
		}
	}
	return kept
}

// cleanup runs fn for what a call must undo, even when the call's context
// is canceled (Ctrl-C), within a bounded time.
func (m *Manager) cleanup(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.limits.Write)
	defer cancel()
	return fn(ctx)
}

// removeTemp removes a temporary container this call made (or a helper),
// with the anonymous volumes the engine made for it: a volume mounted by
// name (one carried over from a replaced container) is never removed.
func (m *Manager) removeTemp(ctx context.Context, id string) error {
	return m.cleanup(ctx, func(ctx context.Context) error {
		err := m.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// createTemp creates a temporary container. When the call's context ends
// while the engine creates it (Ctrl-C), the engine may still finish: the
// container is then looked for by its name, for a while, and removed.
func (m *Manager) createTemp(ctx context.Context, prefix string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, error) {
	name := tempName(prefix)
	resp, err := m.client.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil && ctx.Err() != nil {
		m.removeAbandoned(ctx, name, func(map[string]string) bool { return true })
	}
	return resp.ID, err
}

// removeAbandoned removes the container name that a create this process
// gave up on (its caller was interrupted) may still make: the engine may
// make it after the call was canceled, so it waits a little for it.
// mine says whether what has the name is the one it asked for.
func (m *Manager) removeAbandoned(ctx context.Context, name string, mine func(labels map[string]string) bool) {
	_ = m.cleanup(ctx, func(ctx context.Context) error {
		for range 20 {
			c, err := m.client.ContainerInspect(ctx, name)
			switch {
			case err == nil && c.Config != nil && mine(c.Config.Labels):
				err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
				if cerrdefs.IsNotFound(err) {
					return nil
				}
				return err
			case !cerrdefs.IsNotFound(err):
				return err // another's, or the engine does not answer
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return nil
	})
}

// temporaryLabels adds LabelCreator to the labels of a temporary container.
func temporaryLabels(labels map[string]string) map[string]string {
	labels[sandbox.LabelCreator] = thisProcess()
	return labels
}

func trimSlash(name string) string { return strings.TrimPrefix(name, "/") }

// short is an ID cut as docker prints it; a name stays whole.
func short(id string) string { return claims.Short(id) }
