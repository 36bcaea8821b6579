// Command fakenet is the e2e tests' fake internet and their probe: run in
// containers of a test network, it is an HTTPS origin for the names of
// *.test (a test CA's certificate), an authoritative DNS server that logs
// every query it gets (the exfiltration canary), and listeners that log
// who connects; run in a workspace, it is the probe that tries what a
// workspace's code would. Static, so that an image FROM scratch runs it.
//
//	fakenet origin                     HTTPS on :443, HTTP on :80 (certificate in /etc/fakenet)
//	fakenet dns ORIGIN_IP [NAME=IP...]  DNS on :53, *.test to ORIGIN_IP (NAME to IP)
//	fakenet sink PORT...               accepts and logs connections
//	fakenet probe COMMAND ARGS...      see probe (get, tls, connect, dial, stream, bench, resolve, packet, ipv6)
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const certDir = "/etc/fakenet"

func main() {
	if filepath.Base(os.Args[0]) == "probe" { // installed as the probe in a workspace's image
		if err := probe(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakenet origin|dns|sink|probe …")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "origin":
		err = origin()
	case "dns":
		err = dnsServer(os.Args[2:])
	case "sink":
		err = sink(os.Args[2:])
	case "probe":
		err = probe(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakenet:", err)
		os.Exit(1)
	}
}

// origin answers every request with what it was asked: the name in the
// TLS ClientHello and the Host.
func origin() error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni := ""
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		fmt.Printf("origin: sni=%s host=%s path=%s\n", sni, r.Host, r.URL.Path)
		if r.URL.Path == "/stream" { // a chunk every 100 ms, for 30 s
			for i := range 300 {
				if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		_, _ = fmt.Fprintf(w, "origin sni=%s host=%s\n", sni, r.Host)
	})
	errs := make(chan error, 2)
	go func() { errs <- http.ListenAndServe(":80", h) }()
	go func() { errs <- http.ListenAndServeTLS(":443", certDir+"/cert.pem", certDir+"/key.pem", h) }()
	return <-errs
}

// dnsServer answers A questions for *.test (ORIGIN_IP, or the IP of a
// NAME=IP argument) and logs every question: nothing else answers.
func dnsServer(args []string) error {
	if len(args) == 0 {
		return errors.New("dns ORIGIN_IP [NAME=IP...]")
	}
	addrs := map[string]netip.Addr{}
	def, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	for _, a := range args[1:] {
		name, ip, _ := strings.Cut(a, "=")
		if addrs[name], err = netip.ParseAddr(ip); err != nil {
			return err
		}
	}
	pc, err := net.ListenPacket("udp", ":53")
	if err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
		fmt.Printf("dns: query %s %s\n", name, q.Type)
		ip, ok := addrs[name]
		if !ok && strings.HasSuffix(name, ".test") {
			ip, ok = def, true
		}
		resp := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
		if !ok {
			resp.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, resp)
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		if ok && q.Type == dnsmessage.TypeA {
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: ip.As4()})
		}
		if out, err := b.Finish(); err == nil {
			_, _ = pc.WriteTo(out, from)
		}
	}
}

// sink accepts connections on each port and logs them.
func sink(ports []string) error {
	errs := make(chan error, len(ports))
	for _, p := range ports {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					errs <- err
					return
				}
				fmt.Printf("sink: connection on %s from %s\n", p, c.RemoteAddr())
				_, _ = io.WriteString(c, "sink\n")
				c.Close()
			}
		}()
	}
	return <-errs
}

// probe is what a workspace's code tries. Exit 0: it worked.
//
//	probe get URL                    through the proxy variables, the test CA trusted
//	probe tls HOST SNI               TLS to HOST:443 itself (no proxy), SNI as given, then GET /
//	probe connect HOST:PORT SNI      CONNECT through $HTTPS_PROXY, then TLS with SNI
//	probe dial ADDR                  a TCP connection, no proxy
//	probe resolve NAME               a lookup
//	probe packet                     a packet socket (raw frames)
//	probe ipv6                       fails when an interface has an IPv6 address
func probe(args []string) error {
	if len(args) == 0 {
		return errors.New("probe get|tls|connect|dial|resolve|packet|ipv6 …")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch args[0] {
	case "get":
		return each(args[1:], func(u string) error { return probeGet(ctx, u) })
	case "tls":
		return probeTLS(ctx, args[1], args[2])
	case "connect":
		return probeConnect(ctx, args[1], args[2])
	case "dial":
		return each(args[1:], func(t string) error { return probeDial(ctx, t) })
	case "bench":
		return probeBench(args[1], args[2])
	case "stream":
		return probeStream(args[1], args[2])
	case "resolve":
		addrs, err := net.DefaultResolver.LookupHost(ctx, args[1])
		fmt.Println(addrs)
		return err
	case "packet":
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300)
		if err != nil {
			return err
		}
		_ = syscall.Close(fd)
		fmt.Println("packet socket opened")
		return nil
	case "ipv6":
		return probeIPv6()
	}
	return fmt.Errorf("unknown probe %q", args[0])
}

// each runs probe on every target at once; with more than one target, it
// says each one's outcome on a line of its own and fails if any failed.
func each(targets []string, probe func(string) error) error {
	if len(targets) == 1 {
		return probe(targets[0])
	}
	errs := make([]error, len(targets))
	done := make(chan int)
	for i, t := range targets {
		go func() {
			errs[i] = probe(t)
			done <- i
		}()
	}
	for range targets {
		<-done
	}
	for i, t := range targets {
		fmt.Printf("\n%s: %v\n", t, errs[i])
	}
	return errors.Join(errs...)
}

// probeDial connects and says what the other end sent in two seconds.
func probeDial(ctx context.Context, target string) error {
	c, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(io.LimitReader(c, 64))
	fmt.Printf("%s connected: %q\n", target, b)
	return c.Close()
}

func tlsConfig(sni string) (*tls.Config, error) {
	pem, err := os.ReadFile(certDir + "/ca.pem")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: sni}, nil
}

// probeBench gets URL n times, each on a new connection (a TLS handshake
// each), and prints the median time of one, in microseconds.
func probeBench(u, n string) error {
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return fmt.Errorf("bench URL N: %q is not a count", n)
	}
	cfg, err := tlsConfig("")
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	times := make([]time.Duration, 0, count)
	for range count {
		start := time.Now()
		resp, err := c.Get(u)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	fmt.Println(times[len(times)/2].Microseconds())
	return nil
}

// probeStream reads a streamed response, a line at a time, into file (a
// last line says how it ended).
func probeStream(u, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, err := tlsConfig("")
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: cfg}}
	resp, err := c.Get(u)
	if err != nil {
		_, _ = fmt.Fprintf(f, "ended: %v\n", err)
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		_, _ = fmt.Fprintln(f, sc.Text())
	}
	_, _ = fmt.Fprintf(f, "ended: %v\n", sc.Err())
	return nil
}

func probeGet(ctx context.Context, u string) error {
	cfg, err := tlsConfig("")
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, b)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func probeTLS(ctx context.Context, host, sni string) error {
	cfg, err := tlsConfig(sni)
	if err != nil {
		return err
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, "443"))
	if err != nil {
		return err
	}
	defer c.Close()
	return getOver(c, sni)
}

func probeConnect(ctx context.Context, target, sni string) error {
	p, err := url.Parse(os.Getenv("HTTPS_PROXY"))
	if err != nil || p.Host == "" {
		return errors.New("no HTTPS_PROXY")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", p.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	if !strings.Contains(status, " 200 ") {
		return fmt.Errorf("CONNECT: %s", strings.TrimSpace(status))
	}
	cfg, err := tlsConfig(sni)
	if err != nil {
		return err
	}
	tc := tls.Client(&bufConn{Conn: c, r: br}, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	return getOver(tc, sni)
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func getOver(c net.Conn, host string) error {
	_, _ = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	b, err := io.ReadAll(c)
	fmt.Printf("%s", b)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), " 200 ") {
		return errors.New("no 200")
	}
	return nil
}

func probeIPv6() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && !p.Addr().IsLoopback() {
				return fmt.Errorf("%s has %s", i.Name, a)
			}
		}
	}
	fmt.Println("no IPv6 address")
	return nil
}
