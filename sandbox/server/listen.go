package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenOptions say how Listen listens.
type ListenOptions struct {
	// SocketMode and SocketGID are a unix socket's mode and group
	// (SocketGID < 0: the process's).
	SocketMode os.FileMode
	SocketGID  int
	// TLS is required for tcp://: every caller shows a client certificate
	// it verifies.
	TLS *tls.Config
}

// Listen listens on addr: unix:///PATH (a socket of mode SocketMode,
// group SocketGID; a stale socket there is replaced, anything else there
// refused) or tcp://HOST:PORT (with TLS and client certificates only).
func Listen(addr string, o ListenOptions) (net.Listener, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	switch u.Scheme {
	case "unix":
		return listenUnix(u.Path, o)
	case "tcp":
		if o.TLS == nil {
			return nil, fmt.Errorf("listen address %q: tcp needs TLS with client certificates (--tlscacert, --tlscert, --tlskey)", addr)
		}
		l, err := net.Listen("tcp", u.Host)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, o.TLS), nil
	}
	return nil, fmt.Errorf("listen address %q: unix:///PATH or tcp://HOST:PORT is needed", addr)
}

func listenUnix(p string, o ListenOptions) (net.Listener, error) {
	if p == "" {
		return nil, errors.New("listen address: unix:///PATH needs a path")
	}
	if err := removeStale(p); err != nil {
		return nil, err
	}
	// Made inaccessible, then opened to its group: never a moment open to
	// everyone.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", p)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if o.SocketGID >= 0 {
		if err := os.Lchown(p, -1, o.SocketGID); err != nil {
			l.Close()
			return nil, fmt.Errorf("give %s to group %d: %w", p, o.SocketGID, err)
		}
	}
	if err := os.Chmod(p, o.SocketMode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// removeStale removes a socket that nothing listens on (a server killed
// with -9 leaves it); one that answers, or anything else, is refused.
func removeStale(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: not replaced", p)
	}
	if c, err := net.Dial("unix", p); err == nil {
		c.Close()
		return fmt.Errorf("%s: a server listens there already", p)
	}
	return os.Remove(p)
}

// connPeer names a connection's peer: a unix socket's uid and pid, as the
// kernel tells them, or a TCP address.
func connPeer(conn net.Conn) string {
	if tc, ok := conn.(*tls.Conn); ok {
		return "tcp:" + tc.RemoteAddr().String()
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return conn.RemoteAddr().String()
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "unix"
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil {
		return "unix"
	}
	return "unix:uid=" + strconv.Itoa(int(cred.Uid)) + ",pid=" + strconv.Itoa(int(cred.Pid))
}
