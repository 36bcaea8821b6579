package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// extensionECH is TLS Encrypted Client Hello: the name it hides is not
// the one the proxy would check.
const extensionECH = 0xfe0d

var (
	errNotTLS   = errors.New("not TLS")
	errStop     = errors.New("client hello read")
	helloWithin = 10 * time.Second
)

// clientHello reads a TLS ClientHello from conn, and returns its server
// name and the bytes read (to pass on, unchanged, to the server). A
// ClientHello without a name, or with an encrypted one, is refused.
func clientHello(conn net.Conn) (string, []byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(helloWithin))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	var seen bytes.Buffer
	first := make([]byte, 1)
	if _, err := io.ReadFull(conn, first); err != nil {
		return "", nil, err
	}
	seen.Write(first)
	if first[0] != 0x16 { // a TLS handshake record
		return "", seen.Bytes(), errNotTLS
	}
	var hello *tls.ClientHelloInfo
	r := io.MultiReader(bytes.NewReader(first), io.TeeReader(conn, &seen))
	err := tls.Server(readOnly{r: r}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			hello = h
			return nil, errStop
		},
	}).Handshake()
	switch {
	case hello == nil && err != nil && strings.Contains(err.Error(), "encrypted_client_hello"):
		return "", seen.Bytes(), errors.New("encrypted client hello")
	case hello == nil && err != nil:
		return "", seen.Bytes(), err
	case hello == nil:
		return "", seen.Bytes(), errNotTLS
	case slices.Contains(hello.Extensions, extensionECH):
		return "", seen.Bytes(), errors.New("encrypted client hello")
	case hello.ServerName == "":
		return "", seen.Bytes(), errors.New("no server name")
	}
	return normalName(hello.ServerName), seen.Bytes(), nil
}

// readOnly is a net.Conn that reads from r and writes nowhere: the TLS
// server that reads the ClientHello answers nothing.
type readOnly struct {
	net.Conn
	r io.Reader
}

func (c readOnly) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c readOnly) Write(p []byte) (int, error)      { return len(p), nil }
func (c readOnly) Close() error                     { return nil }
func (c readOnly) SetDeadline(time.Time) error      { return nil }
func (c readOnly) SetReadDeadline(time.Time) error  { return nil }
func (c readOnly) SetWriteDeadline(time.Time) error { return nil }
func (c readOnly) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c readOnly) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// serveTLS routes TLS connections by the name in their ClientHello: the
// workspace's clients that ignore the proxy variables reach it through its
// DNS answers.
func (s *Server) serveTLS(ctx context.Context, ln net.Listener) error {
	return s.serveOn(ctx, ln, func(conn net.Conn) {
		name, seen, err := clientHello(conn)
		if err != nil {
			s.log("tls", "", uint16(s.cfg.Ports.TLS), egress.Decision{Reason: "TLS client hello: " + err.Error()}, "")
			return
		}
		up, err := s.dialChecked(ctx, "tls", name, 443)
		if err != nil {
			return
		}
		defer up.Close()
		defer s.track(name, 443, up, conn)()
		if _, err := up.Write(seen); err != nil {
			return
		}
		splice(conn, up)
	})
}

// serveOn accepts connections on ln until ctx ends, and hands each to
// handle (which the connection is closed after).
func (s *Server) serveOn(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go func() {
			defer conn.Close()
			handle(conn)
		}()
	}
}

// splice copies both ways until both are done, each side's end passed on.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

// sameName says whether the TLS server name is the host a client asked
// for (names are compared without case).
func sameName(a, b string) bool { return strings.EqualFold(a, b) }
