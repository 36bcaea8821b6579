package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/server"
)

type serveOptions struct {
	listen     []string
	tokens     string
	audit      []string
	group      string
	socketMode string
	tlsCA      string
	tlsCert    string
	tlsKey     string
	maxUpload  string
	flags      *pflag.FlagSet
}

// DefaultSocket is where serve listens when --listen is not given.
const DefaultSocket = "unix:///run/docker-workspace.sock"

func newServeCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve the workspaces over an API with scoped tokens, without the Docker socket",
		Long: "Serve the workspaces of the context's engine (or Swarm) over a JSON API (/v1, described by\n" +
			"/v1/openapi.yaml) on a unix socket or on TCP with TLS client certificates. Each caller sends a\n" +
			"token of the --tokens file, which names the workspaces it may touch, the verbs it may use and\n" +
			"the configuration its workspaces are made with; the caller cannot change any of it, and never\n" +
			"reaches the engine's own API. Every mutating call and every refusal is a JSON line of the audit\n" +
			"log. SIGHUP reloads the tokens file; SIGTERM and SIGINT stop the server.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.flags = cmd.Flags()
			return runServe(cmd.Context(), dockerCLI, build, &opts)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringArrayVar(&opts.listen, "listen", []string{DefaultSocket}, "Where to listen: unix:///PATH, or tcp://HOST:PORT (with --tlscacert, --tlscert, --tlskey)")
	flags.StringVar(&opts.tokens, "tokens", "", "File of the tokens callers may use (JSON; see docs/serve.md); reloaded on SIGHUP")
	flags.StringArrayVar(&opts.audit, "audit", []string{"-"}, `Where the audit log goes: a file (appended to), or "-" for stderr`)
	flags.StringVar(&opts.group, "group", "", "Group of the unix socket (a name or a GID; default: the server's)")
	flags.StringVar(&opts.socketMode, "socket-mode", "0660", "Mode of the unix socket")
	flags.StringVar(&opts.tlsCA, "tlscacert", "", "With tcp://: trust only client certificates signed by this CA")
	flags.StringVar(&opts.tlsCert, "tlscert", "", "With tcp://: the server's TLS certificate")
	flags.StringVar(&opts.tlsKey, "tlskey", "", "With tcp://: the server's TLS key")
	flags.StringVar(&opts.maxUpload, "max-upload", "1g", "Largest file or archive a caller may send in")
	_ = cmd.MarkFlagRequired("tokens")
	_ = cmd.MarkFlagFilename("tokens", "json")
	return cmd
}

func runServe(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *serveOptions) error {
	lo, maxUpload, err := serveInput(opts)
	if err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, build.Version)
	if err != nil {
		return err
	}
	configFor := tokenConfig(ctx, dockerCLI, b)
	tokens, err := server.LoadTokens(opts.tokens, configFor)
	if err != nil {
		return usageError(fmt.Errorf("--tokens: %w", err))
	}
	audit, closeAudit, err := auditLog(dockerCLI, opts.audit)
	if err != nil {
		return err
	}
	defer closeAudit()
	srv := server.New(server.Options{
		Orchestrator: b.Orchestrator,
		Engine: func(loc sandbox.Location) (server.EngineClient, error) {
			c, err := b.engineCLI(loc)
			if err != nil {
				return nil, err
			}
			return c.Client(), nil
		},
		Audit: audit, Log: dockerCLI.Err(), Timeout: b.timeout, MaxUpload: maxUpload,
	}, tokens)
	listeners, err := listenAll(opts.listen, lo)
	if err != nil {
		return err
	}
	return serveUntilSignal(ctx, dockerCLI, srv, listeners, func() error {
		t, err := server.LoadTokens(opts.tokens, configFor)
		if err == nil {
			srv.SetTokens(t)
		}
		return err
	})
}

// serveInput checks serve's flags, before anything is made.
func serveInput(opts *serveOptions) (server.ListenOptions, int64, error) {
	lo := server.ListenOptions{SocketGID: -1}
	mode, err := strconv.ParseUint(opts.socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return lo, 0, usageError(fmt.Errorf("--socket-mode: %q is not an octal mode", opts.socketMode))
	}
	lo.SocketMode = os.FileMode(mode)
	if mode&0o007 != 0 {
		return lo, 0, usageError(fmt.Errorf("--socket-mode %s: the socket would be open to everyone; a group is how access is given", opts.socketMode))
	}
	if opts.group != "" {
		if lo.SocketGID, err = groupID(opts.group); err != nil {
			return lo, 0, usageError(fmt.Errorf("--group: %w", err))
		}
	}
	maxUpload, err := units.RAMInBytes(opts.maxUpload)
	if err != nil || maxUpload <= 0 {
		return lo, 0, usageError(fmt.Errorf("--max-upload: invalid size %q", opts.maxUpload))
	}
	if lo.TLS, err = serverTLS(opts); err != nil {
		return lo, 0, usageError(err)
	}
	for _, a := range opts.listen {
		if err := checkListen(a, lo.TLS != nil); err != nil {
			return lo, 0, usageError(err)
		}
	}
	return lo, maxUpload, nil
}

// checkListen refuses a --listen address Listen would refuse.
func checkListen(a string, withTLS bool) error {
	u, err := url.Parse(a)
	switch {
	case err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") || (u.Scheme == "unix" && u.Path == "") || (u.Scheme == "tcp" && u.Host == ""):
		return fmt.Errorf("--listen %q: unix:///PATH or tcp://HOST:PORT is needed", a)
	case u.Scheme == "tcp" && !withTLS:
		return fmt.Errorf("--listen %q: tcp needs TLS with client certificates (--tlscacert, --tlscert, --tlskey)", a)
	}
	return nil
}

func groupID(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil && id >= 0 {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// serverTLS is the TLS of tcp:// listeners: client certificates of the CA
// required (nil when no TLS flag is given).
func serverTLS(opts *serveOptions) (*tls.Config, error) {
	if opts.tlsCA == "" && opts.tlsCert == "" && opts.tlsKey == "" {
		return nil, nil
	}
	if opts.tlsCA == "" || opts.tlsCert == "" || opts.tlsKey == "" {
		return nil, errors.New("--tlscacert, --tlscert and --tlskey go together")
	}
	cert, err := tls.LoadX509KeyPair(opts.tlsCert, opts.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tlscert, --tlskey: %w", err)
	}
	pem, err := os.ReadFile(opts.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("--tlscacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tlscacert %s: no certificate in it", opts.tlsCA)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}, nil
}

// tokenConfig turns a token's configuration keys (those of config.json's
// plugins.workspace section) into a configuration, over the server's own
// (its environment and config.json), as ensure's flags would.
func tokenConfig(ctx context.Context, dockerCLI command.Cli, b *backend) server.ConfigFunc {
	return func(keys map[string]any) (sandbox.Config, error) {
		fs := pflag.NewFlagSet("token", pflag.ContinueOnError)
		addConfigFlags(fs)
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := setTokenKey(fs, k, keys[k]); err != nil {
				return sandbox.Config{}, err
			}
		}
		return commandConfig(ctx, b, fs, "")
	}
}

func setTokenKey(fs *pflag.FlagSet, k string, v any) error {
	if fs.Lookup(k) == nil {
		return fmt.Errorf("unknown key %q (the keys of config.json's plugins.%s section that define a workspace)", k, Name)
	}
	var values []any
	switch v := v.(type) {
	case []any:
		values = v
	default:
		values = []any{v}
	}
	for _, e := range values {
		var s string
		switch e := e.(type) {
		case string:
			s = e
		case bool, float64:
			s = fmt.Sprint(e)
		default:
			return fmt.Errorf("key %q: a string, a boolean, a number or an array of them is needed", k)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	return nil
}

// auditLog opens the audit log's destinations.
func auditLog(dockerCLI command.Cli, dests []string) (io.Writer, func(), error) {
	var ws []io.Writer
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, d := range slices.Compact(slices.Sorted(slices.Values(dests))) {
		if d == "-" {
			ws = append(ws, dockerCLI.Err())
			continue
		}
		f, err := os.OpenFile(d, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--audit: %w", err)
		}
		files = append(files, f)
		ws = append(ws, f)
	}
	return io.MultiWriter(ws...), closeAll, nil
}

func listenAll(addrs []string, lo server.ListenOptions) ([]net.Listener, error) {
	var ls []net.Listener
	for _, a := range addrs {
		l, err := server.Listen(a, lo)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("--listen: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// serveUntilSignal serves on each listener until SIGTERM or SIGINT (or
// ctx ends); SIGHUP calls reload.
func serveUntilSignal(ctx context.Context, dockerCLI command.Cli, h http.Handler, listeners []net.Listener, reload func() error) error {
	hs := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ConnContext: server.ConnContext,
		// OPTIONS * is the API's to answer (404, audited), as any path.
		DisableGeneralOptionsHandler: true,
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	errs := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace serve: listening on %s://%s\n", l.Addr().Network(), l.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- hs.Serve(l)
		}()
	}
	defer wg.Wait()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if err := reload(); err != nil {
					_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace serve: tokens not reloaded (the old ones stay): %v\n", err)
				} else {
					_, _ = fmt.Fprintln(dockerCLI.Err(), "docker workspace serve: tokens reloaded")
				}
				continue
			}
			return shutdown(hs)
		case <-ctx.Done():
			return shutdown(hs)
		case err := <-errs:
			_ = hs.Close()
			return err
		}
	}
}

func shutdown(hs *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		return hs.Close()
	}
	return nil
}
