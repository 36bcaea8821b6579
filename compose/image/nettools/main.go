// Command nettools is wget and nslookup for the offline workspace image
// (../Dockerfile.busybox): Debian 12's static busybox crashes in both
// (a static glibc cannot resolve names), and an agent's first fetch must
// work. One static binary, called by the name it is linked as. wget
// honours the proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as an
// egress proxy of docker workspace sets them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "nettools" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "wget":
		err = wget(args)
	case "nslookup":
		err = nslookup(args)
	default:
		err = fmt.Errorf("call me as wget or nslookup, not %q", name)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// wget [-q] [-O FILE|-] [-T SECONDS] URL: one GET; the body to FILE (by
// default the URL's last path element, index.html for none).
func wget(args []string) error {
	fs := flag.NewFlagSet("wget", flag.ContinueOnError)
	quiet := fs.Bool("q", false, "quiet")
	out := fs.String("O", "", "output file (- for stdout)")
	timeout := fs.Int("T", 30, "timeout in seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: wget [-q] [-O FILE|-] [-T SECONDS] URL")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad URL %q", fs.Arg(0))
	}
	client := &http.Client{Timeout: time.Duration(*timeout) * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	resp, err := client.Get(u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("server returned error: HTTP/1.1 %s", resp.Status)
	}
	dst := *out
	if dst == "" {
		if dst = path.Base(u.Path); dst == "." || dst == "/" || dst == "" {
			dst = "index.html"
		}
	}
	var w io.Writer = os.Stdout
	if dst != "-" {
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
		if !*quiet {
			fmt.Fprintf(os.Stderr, "saving to '%s'\n", dst)
		}
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// nslookup [-type=A|AAAA|TXT] NAME [SERVER]: the addresses (or TXT
// records) of a name, from the resolver of /etc/resolv.conf or SERVER.
func nslookup(args []string) error {
	typ := "A"
	var rest []string
	for _, a := range args {
		if t, ok := strings.CutPrefix(a, "-type="); ok {
			typ = strings.ToUpper(t)
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) < 1 || len(rest) > 2 {
		return errors.New("usage: nslookup [-type=A|AAAA|TXT] NAME [SERVER]")
	}
	r := &net.Resolver{PreferGo: true}
	if len(rest) == 2 {
		server := net.JoinHostPort(rest[1], "53")
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, server)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := rest[0]
	if typ == "TXT" {
		txt, err := r.LookupTXT(ctx, name)
		if err != nil {
			return err
		}
		for _, t := range txt {
			fmt.Printf("%s\ttext = %q\n", name, t)
		}
		return nil
	}
	addrs, err := r.LookupIPAddr(ctx, name)
	if err != nil {
		return err
	}
	found := false
	for _, a := range addrs {
		if (typ == "AAAA") == (a.IP.To4() == nil) {
			fmt.Printf("Name:\t%s\nAddress: %s\n", name, a.IP)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s: no %s record", name, typ)
	}
	return nil
}
