package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

// Egress tells how a workspace reaches the network, and its proxy's
// rules in force; a change is made live, through the proxy's control
// socket (an exec of the proxy's own program in its container).
func (m *Manager) Egress(ctx context.Context, w sandbox.Workspace, change *sandbox.EgressChange) (sandbox.EgressState, error) {
	spec := recordedSpec(w.Labels)
	st := sandbox.EgressState{Mode: recordedEgress(w.Labels), Network: spec.Network}
	proxyName, netName := egressNames(w.Name)
	switch {
	case st.Mode.Proxied():
		st.Network, st.Proxy = netName, proxyName
	case st.Mode == egress.ModeNone:
		st.Network = "none"
	case st.Network == "" && spec.Egress != "":
		st.Network = openNetwork
	}
	if !st.Mode.Proxied() {
		if change != nil {
			return st, fmt.Errorf("workspace %q is in egress mode %s: it has no egress proxy to take rules (the allowlist and public modes have one)",
				w.Subdir, st.Mode)
		}
		return st, nil
	}
	args := []string{"get"}
	if change != nil {
		rules, err := egress.ParseRules(change.Rules)
		if err != nil {
			return st, fmt.Errorf("%w: %w", sandbox.ErrInvalidConfig, err)
		}
		args = append([]string{map[bool]string{true: "allow", false: "deny"}[change.Allow]}, egress.Strings(rules)...)
	}
	out, err := m.proxyCtl(ctx, proxyName, args)
	if change != nil && (errors.Is(err, sandbox.ErrNotRunning) || errors.Is(err, sandbox.ErrProxyStopped) || errors.Is(err, sandbox.ErrProxyGone)) {
		// A proxy that is gone or stopped is made again, or started, first:
		// the rules it kept are in its state.
		if err := m.proxyOf(ctx, nil, w.Labels, sandbox.Config{}); err != nil {
			return st, err
		}
		out, err = m.proxyCtl(ctx, proxyName, args)
	}
	if err != nil {
		return st, err
	}
	var p egress.Policy
	if err := json.Unmarshal(out, &p); err != nil {
		return st, fmt.Errorf("the egress proxy %s answered %q: %w", proxyName, strings.TrimSpace(string(out)), err)
	}
	st.Policy = &p
	return st, nil
}

// proxyCtl runs the proxy program's ctl command in the proxy's container,
// and returns what it printed.
func (m *Manager) proxyCtl(ctx context.Context, proxyName string, args []string) ([]byte, error) {
	exec, err := m.client.ContainerExecCreate(ctx, proxyName, container.ExecOptions{
		Cmd: append([]string{proxyBinary, proxy.Command, "ctl"}, args...), AttachStdout: true, AttachStderr: true,
	})
	switch {
	case cerrdefs.IsNotFound(err):
		return nil, fmt.Errorf("%w: container %s", sandbox.ErrProxyGone, proxyName)
	case cerrdefs.IsConflict(err):
		return nil, fmt.Errorf("%w (%s); an ensure starts it", sandbox.ErrProxyStopped, proxyName)
	case err != nil:
		return nil, fmt.Errorf("ask the egress proxy %s: %w", proxyName, err)
	}
	var stdout, stderr bytes.Buffer
	if err := m.bounded(ctx, "ask the egress proxy "+proxyName, func(ctx context.Context) error {
		resp, err := m.client.ContainerExecAttach(ctx, exec.ID, container.ExecAttachOptions{})
		if err != nil {
			return err
		}
		defer resp.Close()
		_, err = stdcopy.StdCopy(&stdout, &stderr, resp.Reader)
		return err
	}); err != nil {
		return nil, err
	}
	ins, err := m.client.ContainerExecInspect(ctx, exec.ID)
	if err != nil {
		return nil, fmt.Errorf("ask the egress proxy %s: %w", proxyName, err)
	}
	if ins.ExitCode != 0 {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "egress-proxy:"))
		return nil, fmt.Errorf("the egress proxy %s: %s", proxyName, msg)
	}
	return stdout.Bytes(), nil
}

// bounded runs fn within the limit of a call that changes something.
func (m *Manager) bounded(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.limits.Write)
	defer cancel()
	err := fn(ctx)
	if ctx.Err() != nil {
		return &sandbox.TimeoutError{Op: op, After: m.limits.Write}
	}
	return err
}

// EgressLog streams the decisions of a workspace's egress proxy (its
// container's output).
func (m *Manager) EgressLog(ctx context.Context, w sandbox.Workspace, opts sandbox.EgressLogOptions) (io.ReadCloser, error) {
	if mode := recordedEgress(w.Labels); !mode.Proxied() {
		return nil, fmt.Errorf("workspace %q is in egress mode %s: it has no egress proxy to log its decisions", w.Subdir, mode)
	}
	proxyName, _ := egressNames(w.Name)
	lo := container.LogsOptions{ShowStdout: true, Follow: opts.Follow, Tail: opts.Tail}
	if !opts.Since.IsZero() {
		lo.Since = opts.Since.Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	rc, err := m.client.ContainerLogs(ctx, proxyName, lo)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: container %s (a proxy made again starts an empty log)", sandbox.ErrProxyGone, proxyName)
	}
	if err != nil {
		return nil, fmt.Errorf("read the log of the egress proxy %s: %w", proxyName, err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, io.Discard, rc)
		_ = rc.Close()
		_ = pw.CloseWithError(err)
	}()
	return readCloser{Reader: pr, close: func() error { _ = rc.Close(); return pr.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
