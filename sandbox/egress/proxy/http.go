package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// hopHeaders are a connection's own, not passed on.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// serveProxy is the HTTP proxy of the proxy variables: CONNECT, and
// requests for http:// URLs.
func (s *Server) serveProxy(ctx context.Context, ln net.Listener) error {
	return s.serveHTTPServer(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodConnect:
			s.connect(ctx, w, r)
		case r.URL.IsAbs() && r.URL.Scheme == "http":
			s.forward(ctx, w, r, "http", r.URL.Host)
		default:
			http.Error(w, "this is an egress proxy: CONNECT, or a request for an http:// URL", http.StatusBadRequest)
		}
	}))
}

// serveHTTP routes plain HTTP requests by their Host: the workspace's
// clients that ignore the proxy variables reach it through its DNS answers.
func (s *Server) serveHTTP(ctx context.Context, ln net.Listener) error {
	return s.serveHTTPServer(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port, err := splitHostPort(r.Host, 80)
		if err != nil || port != 80 {
			s.log("http", r.Host, port, egress.Decision{Reason: "a Host this listener does not serve"}, "")
			http.Error(w, "bad Host", http.StatusBadRequest)
			return
		}
		r.URL.Scheme, r.URL.Host = "http", host
		s.forward(ctx, w, r, "http", host)
	}))
}

func (s *Server) serveHTTPServer(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: nil}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ctx.Err()
	}
	return err
}

// connect serves CONNECT: for a name on a port that a rule names exactly
// (github.com:22), any bytes; else TLS only, whose ClientHello names the
// host asked for. An address needs a CIDR rule, and then may carry any
// bytes.
func (s *Server) connect(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	host, port, err := splitHostPort(r.Host, 443)
	if err != nil {
		http.Error(w, "bad CONNECT target", http.StatusBadRequest)
		return
	}
	_, isAddr := parseAddr(host)
	c := s.check()
	if !isAddr {
		if d := c.Name(host, port); !d.Allowed {
			s.log("connect", host, port, d, "")
			http.Error(w, "denied by the egress policy: "+d.Reason, http.StatusForbidden)
			return
		}
	}
	raw, buf, err := hijack(w)
	if err != nil {
		return
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Time{})
	conn := bufConn{Conn: raw, r: buf}
	var seen []byte
	if !isAddr && !c.Explicit(host, port) {
		// What the client sends must be TLS for this very name: known
		// before anything is dialled.
		if seen = s.helloFor(conn, host, port); seen == nil {
			return
		}
	}
	up, err := s.dialChecked(ctx, "connect", host, port)
	if err != nil {
		if seen == nil {
			status := "403 Forbidden" // denied; else allowed, but not reached
			if !errors.Is(err, errDenied) {
				status = "502 Bad Gateway"
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\n\r\n")
		}
		return
	}
	defer up.Close()
	defer s.track(host, port, up, conn)()
	if seen == nil {
		if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			return
		}
	}
	if len(seen) > 0 {
		if _, err := up.Write(seen); err != nil {
			return
		}
	}
	splice(conn, up)
}

// helloFor answers a CONNECT to host:port, and reads the TLS ClientHello
// that must follow, for that very name: the bytes read, or nil (refused,
// and logged).
func (s *Server) helloFor(conn net.Conn, host string, port uint16) []byte {
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return nil
	}
	name, hello, err := clientHello(conn)
	if err != nil || !sameName(name, host) {
		reason := "TLS client hello names another host (" + name + ")"
		if err != nil {
			reason = "TLS client hello: " + err.Error() + " (only a rule with this exact port lets other bytes through)"
		}
		s.log("connect", host, port, egress.Decision{Reason: reason}, "")
		return nil
	}
	return hello
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("cannot hijack")
	}
	return hj.Hijack()
}

// bufConn is a hijacked connection that reads what the server had
// buffered of it first.
type bufConn struct {
	net.Conn
	r *bufio.ReadWriter
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite ends what is written to the client, and no more.
func (c bufConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// forward passes a plain HTTP request on to its host, through an address
// the policy allowed, and its response back.
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, kind, hostport string) {
	host, port, err := splitHostPort(hostport, 80)
	if err != nil {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			up, err := s.dialChecked(ctx, kind, host, port)
			if err != nil {
				return nil, err
			}
			// A change of the policy that denies it cuts the response.
			return trackedConn{Conn: up, untrack: s.track(host, port, up)}, nil
		},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	defer tr.CloseIdleConnections()
	out := r.Clone(ctx)
	out.RequestURI = ""
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := tr.RoundTrip(out)
	if err != nil {
		if errors.Is(err, errDenied) {
			http.Error(w, "denied by the egress policy", http.StatusForbidden)
			return
		}
		http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func parseAddr(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return a, err == nil
}
