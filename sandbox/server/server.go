// Package server is `docker workspace serve`: the workspaces of one
// orchestrator behind a JSON API (/v1, see package api) that gateways call
// with scoped tokens instead of holding the Docker socket. A token names
// the workspaces it may touch, the verbs it may use and the configuration
// its workspaces are made with; a caller cannot widen any of it: there is
// no path to the engine's own API, no privileged exec, no other mount or
// network. Every mutating call and every refusal is one line of the audit
// log.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

// EngineClient is what the server asks of the engine that runs a
// workspace's container (the docker client has it all).
type EngineClient interface {
	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
	ContainerStats(ctx context.Context, container string, stream bool) (container.StatsResponseReader, error)
}

// Options configure a Server.
type Options struct {
	// Orchestrator is where the workspaces are.
	Orchestrator sandbox.Orchestrator
	// Engine is the client of the engine that runs a located container.
	Engine func(loc sandbox.Location) (EngineClient, error)
	// Audit receives the audit log, one JSON line (api.AuditRecord) per
	// mutating call and per refusal; nil: none.
	Audit io.Writer
	// Log receives what the server says of itself (nil: nothing).
	Log io.Writer
	// Timeout bounds each engine call that is not a command's own run
	// (0: sandbox.DefaultTimeout).
	Timeout time.Duration
	// MaxBody bounds a JSON request body (0: 1 MiB), MaxUpload a file or
	// an archive sent in (0: 1 GiB), MaxOutput each stream of a buffered
	// exec's output (0: 1 MiB; the streamed form has no limit).
	MaxBody, MaxUpload, MaxOutput int64
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	o       Options
	tokens  atomic.Pointer[Tokens]
	auditMu sync.Mutex
	mux     *http.ServeMux
	reapers reapers
	slots   slots
}

// New returns a server that accepts tokens.
func New(o Options, tokens *Tokens) *Server {
	if o.Timeout == 0 {
		o.Timeout = sandbox.DefaultTimeout
	}
	if o.MaxBody == 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxUpload == 0 {
		o.MaxUpload = 1 << 30
	}
	if o.MaxOutput == 0 {
		o.MaxOutput = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o}
	s.tokens.Store(tokens)
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	s.mux.Handle("GET /"+api.Version+"/openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a GET with a body: not waited for
			w.Header().Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(s.o.Now().Add(2 * time.Second))
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.OpenAPI)
	}))
	return s
}

// SetTokens replaces the tokens, at once: a call that comes after it is
// judged by them (SIGHUP).
func (s *Server) SetTokens(t *Tokens) {
	s.tokens.Store(t)
	s.slots.reset()
	s.reapers.reset()
}

// route is one call of the API.
type route struct {
	pattern  string
	verb     string
	mutating bool
	handle   func(*call) error
	// streams: the handler reads the body as it comes (an upload); else
	// it is read whole (bounded) before the handler runs.
	streams bool
	// slotted: a buffered exec, which waits for one of its token's slots
	// before its body is read (a waiting call holds no body).
	slotted bool
}

func (s *Server) routes() []route {
	ws := "/" + api.Version + "/workspaces/{subdir}"
	return []route{
		{"GET /" + api.Version + "/workspaces", api.VerbList, false, s.list, false, false},
		{"GET " + ws, api.VerbInspect, false, s.inspect, false, false},
		{"POST " + ws + "/ensure", api.VerbEnsure, true, s.ensure, false, false},
		{"POST " + ws + "/stop", api.VerbStop, true, s.stop, false, false},
		{"DELETE " + ws, api.VerbRemove, true, s.remove, false, false},
		{"POST " + ws + "/exec", api.VerbExec, true, s.exec, false, true},
		{"GET " + ws + "/archive", api.VerbCopy, false, s.archiveOut, false, false},
		{"PUT " + ws + "/archive", api.VerbCopy, true, s.archiveIn, true, false},
		{"GET " + ws + "/file", api.VerbCopy, false, s.fileOut, false, false},
		{"PUT " + ws + "/file", api.VerbCopy, true, s.fileIn, true, false},
		{"GET " + ws + "/stats", api.VerbStats, false, s.stats, false, false},
		{"GET /" + api.Version + "/events", api.VerbEvents, false, s.events, false, false},
		{"POST /" + api.Version + "/reap", api.VerbReap, true, s.reap, false, false},
	}
}

// ServeHTTP serves a request: a path of the API, or a refusal (a path
// that is none, the engine's own API among them, is refused and audited).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, route{verb: "-"})
	c.tok, _ = s.authenticate(r)
	c.denied = true
	if p := r.URL.EscapedPath(); p != path.Clean(p) {
		c.fail(badRequest("the path %s is not in its clean form", p))
		s.audit(c)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	c.fail(&api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf("no such API path: %s %s", r.Method, r.URL.Path)})
	s.audit(c)
}

// call is one request being served.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	rt     route
	tok    *Token
	subdir string
	start  time.Time
	status int
	code   string
	// denied: refused before it reached its verb.
	denied bool
	// changed: an ensure on the way (exec, cp) made or woke the workspace.
	changed bool
	// body is the request's body, read whole (routes that do not stream).
	body []byte
}

func (s *Server) newCall(w http.ResponseWriter, r *http.Request, rt route) *call {
	return &call{s: s, w: w, r: r, rt: rt, start: s.o.Now()}
}

// wrap checks a call's token, verb and workspace before its handler runs,
// and audits it after.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.newCall(w, r, rt)
		if err := c.admit(); err != nil {
			c.denied = true
			c.fail(err)
		} else if err := c.run(); err != nil {
			c.fail(err)
		}
		if rt.mutating || c.changed || c.status >= 400 {
			s.audit(c)
		}
	})
}

// run runs an admitted call: its token's slot taken (a buffered exec),
// its body read (unless its handler streams it), its handler.
func (c *call) run() error {
	if kind := c.slotKind(); kind != "" {
		release, err := c.s.slots.take(c.r.Context(), c.tok, kind)
		if err != nil {
			return err
		}
		defer release()
	}
	if !c.rt.streams {
		if err := c.readBody(); err != nil {
			return err
		}
	}
	return c.rt.handle(c)
}

// slotKind is which of its token's places a call takes ("": none).
func (c *call) slotKind() string {
	switch {
	case c.rt.slotted && upgrade(c.r), c.rt.verb == api.VerbEvents:
		return "stream"
	case c.rt.slotted:
		return "buffered"
	}
	return ""
}

// admit refuses a call its token does not allow.
func (c *call) admit() error {
	tok, ok := c.s.authenticate(c.r)
	if !ok {
		return &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized, Message: "a valid token is needed (Authorization: Bearer TOKEN)"}
	}
	c.tok = tok
	sub := strings.Contains(c.rt.pattern, "{subdir}")
	var bad error
	if sub {
		c.subdir = c.r.PathValue("subdir")
		if bad = sandbox.ValidateSubdir(c.subdir); bad != nil {
			c.subdir = strconv.QuoteToASCII(c.subdir) // as the audit log shows it
		}
	}
	if !tok.Allows(c.rt.verb) {
		return forbidden("token %q may not use %s", tok.Name, c.rt.verb)
	}
	if !sub {
		return nil
	}
	if bad != nil {
		return badRequest("%v", bad)
	}
	if !tok.Covers(c.subdir) {
		return forbidden("token %q may not touch workspace %q", tok.Name, c.subdir)
	}
	return nil
}

// authenticate is the token of a request's bearer.
func (s *Server) authenticate(r *http.Request) (*Token, bool) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return nil, false
	}
	return s.tokens.Load().Lookup(secret, s.o.Now())
}

func forbidden(format string, a ...any) error {
	return &api.Error{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) error {
	return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf(format, a...)}
}

// apiError is what err says to a caller: its status and stable code;
// detail is what only the operator's log says.
func apiError(err error) (ae *api.Error, detail string) {
	var te *sandbox.TimeoutError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae, ""
	case errors.As(err, &mbe):
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Message: fmt.Sprintf("the body is over the server's limit of %d bytes", mbe.Limit)}, ""
	case errors.Is(err, sandbox.ErrInvalidSubdir), errors.Is(err, sandbox.ErrInvalidConfig), errors.Is(err, sandbox.ErrNotSupported):
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}, ""
	case errors.Is(err, sandbox.ErrNoSuchWorkspace):
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: err.Error()}, ""
	case errors.Is(err, sandbox.ErrNotRunning):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: err.Error()}, ""
	case errors.Is(err, sandbox.ErrOverlap), errors.Is(err, sandbox.ErrNotThisWorkspace),
		errors.As(err, new(*sandbox.RecordedError)), errors.As(err, new(*sandbox.ProjectError)):
		// What it conflicts with may be another tenant's (its subdir, a
		// host path): the operator's log says it, the caller hears that
		// it conflicts.
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: conflictMessage}, err.Error()
	case errors.Is(err, context.Canceled):
		return &api.Error{Status: 499, Code: api.CodeCancelled, Message: "the caller left before the answer"}, ""
	case errors.As(err, &te), errors.Is(err, context.DeadlineExceeded):
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: err.Error()}, ""
	}
	return &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}, ""
}

// conflictMessage is what a caller hears of a conflict with another
// workspace.
const conflictMessage = "the workspace conflicts with another one (its container's name, its directory, or a Compose project's container): " +
	"nothing was changed; the server's log says which"

// fail answers with err, unless the answer has begun (a stream): then it
// is only recorded.
func (c *call) fail(err error) {
	ae, detail := apiError(err)
	if detail != "" && c.s.o.Log != nil && c.tok != nil {
		_, _ = fmt.Fprintf(c.s.o.Log, "docker workspace serve: token %q, workspace %q: %s\n", c.tok.Name, c.subdir, detail)
	}
	if c.status != 0 {
		c.code = ae.Code
		return
	}
	// What is left of the body is not waited for: the connection closes
	// after the answer, and net/http's own read of the rest is cut short.
	c.w.Header().Set("Connection", "close")
	_ = http.NewResponseController(c.w).SetReadDeadline(c.s.o.Now().Add(2 * time.Second))
	c.json(ae.Status, ae)
	c.code = ae.Code
}

// json answers with v.
func (c *call) json(status int, v any) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	c.status = status
	_ = json.NewEncoder(c.w).Encode(v)
}

// begin starts a streamed answer.
func (c *call) begin(contentType string) {
	c.w.Header().Set("Content-Type", contentType)
	c.w.WriteHeader(http.StatusOK)
	c.status = http.StatusOK
}

// readBody reads the body whole, bounded in size, and within 30 s (one
// that trickles is cut): what the handler then does takes no read of the
// connection.
func (c *call) readBody() error {
	rc := http.NewResponseController(c.w)
	_ = rc.SetReadDeadline(c.s.o.Now().Add(bodyTimeout))
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, c.s.o.MaxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return err
		}
		return badRequest("the body did not come whole: %v", err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	c.body = b
	return nil
}

// bodyTimeout is how long a body may take to come, and an upload between
// two reads.
const bodyTimeout = 30 * time.Second

// decode reads the JSON body into v; an empty body leaves v as it is.
func (c *call) decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: more than one value")
	}
	c.body = nil // a long call holds no body
	return nil
}

// bounded is ctx bounded by the server's engine timeout.
func (c *call) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.r.Context(), c.s.o.Timeout)
}

// audit writes the audit line of a call.
func (s *Server) audit(c *call) {
	if s.o.Audit == nil {
		return
	}
	rec := api.AuditRecord{
		Time: c.start.UTC(), Verb: c.rt.verb, Workspace: c.subdir, Status: c.status, Code: c.code,
		LatencyMS: float64(s.o.Now().Sub(c.start).Microseconds()) / 1000, Peer: peer(c.r), Method: c.r.Method, Path: c.r.URL.EscapedPath(),
	}
	if rec.Path == "" { // CONNECT host:port, OPTIONS *
		rec.Path = strconv.QuoteToASCII(c.r.RequestURI)
	}
	if c.tok != nil {
		rec.Token = c.tok.Name
	}
	switch {
	case c.denied || c.status == http.StatusUnauthorized || c.status == http.StatusForbidden:
		rec.Outcome = "denied"
	case c.code == api.CodeCancelled:
		rec.Outcome = "cancelled"
	case c.status >= 400 || c.code != "":
		rec.Outcome = "error"
	default:
		rec.Outcome = "ok"
	}
	line, _ := json.Marshal(rec)
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	_, _ = s.o.Audit.Write(append(line, '\n'))
}

// peer names the caller: its address, and on a unix socket its uid and
// pid when the kernel tells them.
func peer(r *http.Request) string {
	if p, ok := r.Context().Value(peerKey{}).(string); ok {
		return p
	}
	return r.RemoteAddr
}

// peerKey holds a connection's peer in its requests' context.
type peerKey struct{}

// ConnContext records a connection's peer for the audit log (http.Server's
// ConnContext).
func ConnContext(ctx context.Context, conn net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, connPeer(conn))
}
