package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// fakeDNS resolves test names to addresses.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// logBuf is the proxy's log, safe to read while it writes.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Entry
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var e Entry
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// rig is a proxy on 127.0.0.1, its upstreams test servers: "allowed.test"
// and "other.test" resolve to 127.0.0.1 (which the policy's CIDR rule
// allows as an answer), "private.test" to 127.0.0.2 (which it does not);
// dialled ports 443 and 80 reach the TLS and the HTTP server.
type rig struct {
	t     *testing.T
	srv   *Server
	ports Ports
	log   *logBuf
	tls   *httptest.Server
	plain *httptest.Server
	echo  net.Listener
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		assert.NilError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func newRig(t *testing.T, p egress.Policy, state string) *rig {
	t.Helper()
	r := &rig{t: t, log: &logBuf{}}
	r.tls = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = fmt.Fprintf(w, "tls:%s:%s", req.TLS.ServerName, req.Host)
	}))
	t.Cleanup(r.tls.Close)
	r.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/stream" { // a chunk every 50 ms, for 10 s
			for i := range 200 {
				if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
			return
		}
		_, _ = fmt.Fprintf(w, "http:%s%s", req.Host, req.URL.Path)
	}))
	t.Cleanup(r.plain.Close)
	var err error
	r.echo, err = net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	t.Cleanup(func() { r.echo.Close() })
	go func() {
		for {
			c, err := r.echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.WriteString(c, "SSH-2.0-test\r\n"); _, _ = io.Copy(c, c) }()
		}
	}()
	upstream := map[string]string{"443": r.tls.Listener.Addr().String(), "80": r.plain.Listener.Addr().String(), "2222": r.echo.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	for try := 0; ; try++ { // a port found free may be taken before it is bound: others run beside
		ps := freePorts(t, 4)
		r.ports = Ports{Proxy: ps[0], TLS: ps[1], HTTP: ps[2], DNS: ps[3]}
		r.srv, err = newTestServer(r, p, state, upstream)
		assert.NilError(t, err)
		if err = r.srv.Listen(ctx); err == nil || try == 4 {
			break
		}
	}
	assert.NilError(t, err) // every port answers once Listen returns
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.Check(t, <-done)
	})
	return r
}

func newTestServer(r *rig, p egress.Policy, state string, upstream map[string]string) (*Server, error) {
	return New(Config{
		Listen: netip.MustParseAddr("127.0.0.1"), Ports: r.ports, Workspace: "w", State: state, Policy: p, Log: r.log,
		Resolver: fakeDNS{
			"allowed.test": {netip.MustParseAddr("127.0.0.1")}, "other.test": {netip.MustParseAddr("127.0.0.1")},
			"private.test": {netip.MustParseAddr("127.0.0.2")},
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			if to, ok := upstream[port]; ok {
				addr = to
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
}

func (r *rig) addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// client is an HTTP client of the proxy variables.
func (r *rig) client() *http.Client {
	u, _ := url.Parse("http://" + r.addr(r.ports.Proxy))
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a test server's certificate
	}}
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

var testPolicy = egress.Policy{Mode: egress.ModeAllowlist, Allow: []string{"allowed.test", "private.test", "allowed.test:2222", "127.0.0.1/32"}}

func TestProxyVariables(t *testing.T) {
	r := newRig(t, testPolicy, "")
	c := r.client()

	body, err := get(c, "https://allowed.test/x")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(body, "tls:allowed.test:allowed.test"))
	body, err = get(c, "http://allowed.test/p")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(body, "http:allowed.test/p"))

	_, err = get(c, "https://other.test/")
	assert.Check(t, err != nil, "a name no rule allows")
	body, err = get(c, "http://other.test/")
	assert.Check(t, is.ErrorContains(err, "403"))
	assert.Check(t, is.Contains(body, "denied"))

	// private.test is allowed, but resolves to an address that is not
	// public and that no CIDR rule allows.
	_, err = get(c, "https://private.test/")
	assert.Check(t, err != nil)

	// An address: only through a CIDR rule.
	_, err = get(c, "https://127.0.0.1/")
	assert.NilError(t, err)
	_, err = get(c, "https://127.0.0.2/")
	assert.Check(t, is.ErrorContains(err, "Forbidden"))

	var denied []string
	for _, e := range r.log.entries() {
		assert.Check(t, is.Equal(e.Workspace, "w"))
		if e.Decision == "deny" {
			denied = append(denied, e.Host)
			assert.Check(t, e.Reason != "", "%+v", e)
		}
	}
	assert.Check(t, is.DeepEqual(denied, []string{"other.test", "other.test", "private.test", "127.0.0.2"}))
}

// CONNECT carries TLS whose ClientHello names the host asked for; other
// bytes only for a rule with that exact port.
func TestConnectChecksTheServerName(t *testing.T) {
	r := newRig(t, testPolicy, "")
	connect := func(target string) (net.Conn, *bufio.Reader, string) {
		c, err := net.Dial("tcp", r.addr(r.ports.Proxy))
		assert.NilError(t, err)
		t.Cleanup(func() { c.Close() })
		_, _ = fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		return c, br, line
	}
	c, _, status := connect("allowed.test:443")
	assert.Check(t, is.Contains(status, "200"))
	tc := tls.Client(c, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}) //nolint:gosec // a test server
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	assert.Check(t, tc.Handshake() != nil, "another name in the ClientHello must be refused")

	c, br, status := connect("allowed.test:443")
	assert.Check(t, is.Contains(status, "200"))
	_, _ = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := br.ReadByte()
	assert.Check(t, err != nil, "plain bytes where TLS is wanted are refused")

	c, br, status = connect("allowed.test:2222")
	assert.Check(t, is.Contains(status, "200"))
	banner, err := br.ReadString('\n')
	assert.NilError(t, err)
	assert.Check(t, is.Equal(banner, "SSH-2.0-test\r\n"), "a rule with the exact port lets the server speak first")
	_, _ = fmt.Fprintf(c, "ping\n")
	echo, err := br.ReadString('\n')
	assert.NilError(t, err)
	assert.Check(t, is.Equal(echo, "ping\n"))

	_, _, status = connect("other.test:443")
	assert.Check(t, is.Contains(status, "403"))
}

// Clients that ignore the proxy variables: the TLS listener routes by the
// ClientHello's name, the HTTP one by Host.
func TestListenersByName(t *testing.T) {
	r := newRig(t, testPolicy, "")
	dial := func(sni string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.addr(r.ports.TLS), &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // a test server
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		_, _ = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "tls:"+sni) {
			return fmt.Errorf("reply %q", b)
		}
		return nil
	}
	assert.NilError(t, dial("allowed.test"))
	assert.Check(t, dial("other.test") != nil)

	plain := func(host string) (string, int) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.addr(r.ports.HTTP)+"/q", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		assert.NilError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode
	}
	body, code := plain("allowed.test")
	assert.Check(t, is.Equal(code, 200))
	assert.Check(t, is.Equal(body, "http:allowed.test/q"))
	_, code = plain("other.test")
	assert.Check(t, is.Equal(code, http.StatusForbidden))
	_, code = plain("allowed.test:8080")
	assert.Check(t, is.Equal(code, http.StatusBadRequest))
}

// A ClientHello with an encrypted one inside names nothing the proxy can
// check: refused.
func TestEncryptedClientHelloIsRefused(t *testing.T) {
	r := newRig(t, testPolicy, "")
	c, err := net.Dial("tcp", r.addr(r.ports.TLS))
	assert.NilError(t, err)
	defer c.Close()
	_, err = c.Write(clientHelloWith("allowed.test", extensionECH))
	assert.NilError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	assert.Check(t, err != nil)
	found := false
	for _, e := range r.log.entries() {
		found = found || strings.Contains(e.Reason, "encrypted client hello")
	}
	assert.Check(t, found, "%+v", r.log.entries())
}

// clientHelloWith is a TLS 1.3 ClientHello record naming sni, with an
// extra extension ext.
func clientHelloWith(sni string, ext uint16) []byte {
	var exts bytes.Buffer
	put16 := func(b *bytes.Buffer, v int) { _ = binary.Write(b, binary.BigEndian, uint16(v)) }
	name := []byte(sni)
	put16(&exts, 0) // server_name
	put16(&exts, len(name)+5)
	put16(&exts, len(name)+3)
	exts.WriteByte(0)
	put16(&exts, len(name))
	exts.Write(name)
	put16(&exts, 0x2b) // supported_versions: TLS 1.3
	put16(&exts, 3)
	exts.Write([]byte{2, 0x03, 0x04})
	put16(&exts, int(ext))
	put16(&exts, 4)
	exts.Write([]byte{0, 1, 2, 3})
	var body bytes.Buffer
	body.Write([]byte{0x03, 0x03})
	body.Write(make([]byte, 32)) // random
	body.WriteByte(0)            // session id
	put16(&body, 2)
	body.Write([]byte{0x13, 0x01})
	body.Write([]byte{1, 0})
	put16(&body, exts.Len())
	body.Write(exts.Bytes())
	hs := append([]byte{1, 0, byte(body.Len() >> 8), byte(body.Len())}, body.Bytes()...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// The workspace's DNS: the proxy's address for a name the policy may
// allow, no IPv6 address, no such name for the rest; nothing is looked up.
func TestDNS(t *testing.T) {
	r := newRig(t, egress.Policy{Mode: egress.ModeAllowlist, Allow: []string{"allowed.test", "*.wild.test"}}, "")
	ask := func(name string, typ dnsmessage.Type) dnsmessage.Message {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
		assert.NilError(t, b.StartQuestions())
		assert.NilError(t, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}))
		q, err := b.Finish()
		assert.NilError(t, err)
		c, err := net.Dial("udp", r.addr(r.ports.DNS))
		assert.NilError(t, err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(q)
		assert.NilError(t, err)
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		assert.NilError(t, err)
		var m dnsmessage.Message
		assert.NilError(t, m.Unpack(buf[:n]))
		assert.Check(t, is.Equal(m.Header.ID, uint16(7)))
		return m
	}
	m := ask("Allowed.Test.", dnsmessage.TypeA)
	assert.Check(t, is.Equal(m.Header.RCode, dnsmessage.RCodeSuccess))
	assert.Assert(t, is.Len(m.Answers, 1))
	assert.Check(t, is.Equal(m.Answers[0].Body.(*dnsmessage.AResource).A, [4]byte{127, 0, 0, 1}))
	m = ask("a.b.wild.test.", dnsmessage.TypeA)
	assert.Check(t, is.Len(m.Answers, 1))
	m = ask("allowed.test.", dnsmessage.TypeAAAA)
	assert.Check(t, is.Equal(m.Header.RCode, dnsmessage.RCodeSuccess))
	assert.Check(t, is.Len(m.Answers, 0))
	m = ask("secret-data.denied.test.", dnsmessage.TypeTXT)
	assert.Check(t, is.Equal(m.Header.RCode, dnsmessage.RCodeNameError))
	m = ask("_dmarc.allowed.test.", dnsmessage.TypeTXT)
	assert.Check(t, is.Equal(m.Header.RCode, dnsmessage.RCodeNameError))
}

// A change of the policy is in force at once and kept: a proxy made again
// on the same state has it.
func TestPolicyChangeIsKept(t *testing.T) {
	state := t.TempDir()
	r := newRig(t, egress.Policy{Mode: egress.ModeAllowlist, Allow: []string{"127.0.0.1/32"}}, state)
	c := r.client()
	_, err := get(c, "https://allowed.test/")
	assert.Check(t, err != nil)
	p, err := Control(context.Background(), state, Request{Op: "allow", Rules: []string{"allowed.test"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(p.Allow, []string{"127.0.0.1", "allowed.test"}))
	_, err = get(c, "https://allowed.test/")
	assert.NilError(t, err)
	_, err = Control(context.Background(), state, Request{Op: "allow", Rules: []string{"bad rule"}})
	assert.Check(t, is.ErrorContains(err, "invalid rule"))

	again, err := New(Config{State: state, Policy: egress.Policy{Mode: egress.ModeAllowlist, Allow: []string{"127.0.0.1/32"}}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(again.Policy().Allow, []string{"127.0.0.1", "allowed.test"}))
	// Made with another configuration: it starts from that one.
	other, err := New(Config{State: t.TempDir(), Policy: egress.Policy{Mode: egress.ModePublic}})
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(other.cfg.State, stateFile), mustRead(t, filepath.Join(state, stateFile)), 0o600))
	other, err = New(Config{State: other.cfg.State, Policy: egress.Policy{Mode: egress.ModePublic}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(other.Policy(), egress.Policy{Mode: egress.ModePublic}))

	p, err = Control(context.Background(), state, Request{Op: "deny", Rules: []string{"allowed.test"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(p.Deny, []string{"allowed.test"}))
	_, err = get(c, "https://allowed.test/")
	assert.Check(t, err != nil)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	return b
}

// A change of the policy cuts the open connections it now denies: a
// CONNECT tunnel and a plain HTTP response alike, denied by name or by
// the address they were dialled to.
func TestDenyCutsOpenConnections(t *testing.T) {
	for _, rule := range []string{"allowed.test", "127.0.0.1"} {
		t.Run(rule, func(t *testing.T) {
			r := newRig(t, testPolicy, "")
			tunnel, err := net.Dial("tcp", r.addr(r.ports.Proxy))
			assert.NilError(t, err)
			defer tunnel.Close()
			_, _ = io.WriteString(tunnel, "CONNECT allowed.test:2222 HTTP/1.1\r\nHost: allowed.test:2222\r\n\r\n")
			br := bufio.NewReader(tunnel)
			line, _ := br.ReadString('\n')
			assert.Assert(t, is.Contains(line, "200"))
			resp, err := r.client().Get("http://allowed.test/stream")
			assert.NilError(t, err)
			defer resp.Body.Close()
			body := bufio.NewReader(resp.Body)
			first, _ := body.ReadString('\n')
			assert.Assert(t, is.Equal(first, "chunk 0\n"))

			rules, err := egress.ParseRules([]string{rule})
			assert.NilError(t, err)
			assert.NilError(t, r.srv.SetPolicy(r.srv.Policy().With(false, rules)))
			_ = tunnel.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, br)
			assert.Check(t, err == nil, "the tunnel was not cut: %v", err) // EOF, not the deadline
			rest, _ := io.ReadAll(body)
			assert.Check(t, !strings.Contains(string(rest), "chunk 199"), "the response was not cut")
		})
	}
}

// A destination the policy allows but the network does not reach is an
// error of the network, never a denial: its log line says "error" with the
// rule that allowed it, an explicit CONNECT gets 502 and a forwarded request
// 502, and nothing says "deny" (issue 22, pass 16: logged as "deny
// rule=<the allowing rule>").
func TestUnreachableIsNoDenial(t *testing.T) {
	p := egress.Policy{Mode: egress.ModeAllowlist, Allow: []string{"127.0.0.1/32:9", "gone.test"}}
	r := newRig(t, p, "")
	c, err := net.Dial("tcp", r.addr(r.ports.Proxy))
	assert.NilError(t, err)
	defer c.Close()
	_, _ = fmt.Fprintf(c, "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, _ := bufio.NewReader(c).ReadString('\n')
	assert.Check(t, is.Contains(status, "502"))

	body, err := get(r.client(), "http://gone.test/")
	assert.Check(t, is.ErrorContains(err, "status 502"))
	assert.Check(t, is.Contains(body, "lookup gone.test: no such host"))

	var got []string
	for _, e := range r.log.entries() {
		got = append(got, e.Decision+" "+e.Rule+" "+strings.SplitN(e.Reason, ":", 2)[0])
	}
	assert.Check(t, is.DeepEqual(got, []string{"error 127.0.0.1:9 connect failed", "error gone.test lookup failed"}))
}
