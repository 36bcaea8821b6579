package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a server of the API (docker workspace serve) with a token.
type Client struct {
	base  string // scheme://host, where requests go
	token string
	dial  func(ctx context.Context) (net.Conn, error)
	http  *http.Client
}

// NewClient returns a client of the server at endpoint: unix:///PATH, or
// https://HOST:PORT with tlsConfig (its client certificate).
func NewClient(endpoint, token string, tlsConfig *tls.Config) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	c := &Client{token: token}
	var d net.Dialer
	switch u.Scheme {
	case "unix":
		c.base = "http://docker-workspace"
		c.dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", u.Path) }
	case "https", "tcp":
		c.base = "https://" + u.Host
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		c.dial = func(ctx context.Context) (net.Conn, error) { return td.DialContext(ctx, "tcp", u.Host) }
	default:
		return nil, fmt.Errorf("endpoint %q: unix:///PATH or https://HOST:PORT is needed", endpoint)
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		DialTLSContext:      func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
	return c, nil
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// path is the escaped path of a workspace's call ("" for the workspace
// itself): a subdir is one element, its slashes escaped.
func wsPath(subdir, verb string) string {
	p := "/" + Version + "/workspaces/" + url.PathEscape(subdir)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

// do sends a request and decodes a JSON answer into out (nil: none); an
// answer that is not a success is an *Error.
func (c *Client) do(ctx context.Context, method, rawPath string, query url.Values, body io.Reader, length int64, out any) error {
	resp, err := c.send(ctx, method, rawPath, query, body, length, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send sends a request; an answer that is not a success is an *Error.
func (c *Client) send(ctx context.Context, method, rawPath string, query url.Values, body io.Reader, length int64, header http.Header) (*http.Response, error) {
	req, err := c.request(ctx, method, rawPath, query, body, length, header)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

func (c *Client) request(ctx context.Context, method, rawPath string, query url.Values, body io.Reader, length int64, header http.Header) (*http.Request, error) {
	u, err := url.Parse(c.base + rawPath)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if length >= 0 {
		req.ContentLength = length
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, e) != nil || e.Code == "" {
		e.Code, e.Message = CodeInternal, strings.TrimSpace(string(b))
	}
	return e
}

func jsonBody(v any) (io.Reader, int64, error) {
	b, err := json.Marshal(v)
	return bytes.NewReader(b), int64(len(b)), err
}

// List returns the workspaces the token covers.
func (c *Client) List(ctx context.Context) ([]Workspace, error) {
	var out []Workspace
	err := c.do(ctx, http.MethodGet, "/"+Version+"/workspaces", nil, nil, -1, &out)
	return out, err
}

// Inspect returns a workspace.
func (c *Client) Inspect(ctx context.Context, subdir string) (Workspace, error) {
	var out Workspace
	err := c.do(ctx, http.MethodGet, wsPath(subdir, ""), nil, nil, -1, &out)
	return out, err
}

// Ensure makes sure a workspace exists and runs, with the token's
// configuration.
func (c *Client) Ensure(ctx context.Context, subdir string) (EnsureResult, error) {
	var out EnsureResult
	err := c.do(ctx, http.MethodPost, wsPath(subdir, "ensure"), nil, nil, 0, &out)
	return out, err
}

// Stop stops a workspace (timeout: seconds before it is killed; nil: the
// server's default); its data stays.
func (c *Client) Stop(ctx context.Context, subdir string, timeout *int) error {
	body, n, err := jsonBody(StopRequest{Timeout: timeout})
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, wsPath(subdir, "stop"), nil, body, n, nil)
}

// Remove removes a workspace's container (or service), never its data; a
// running one only with force.
func (c *Client) Remove(ctx context.Context, subdir string, force bool) error {
	return c.do(ctx, http.MethodDelete, wsPath(subdir, ""), url.Values{"force": {strconv.FormatBool(force)}}, nil, -1, nil)
}

// Exec runs a command in a workspace, ensured first, and returns its exit
// code and output.
func (c *Client) Exec(ctx context.Context, subdir string, req ExecRequest) (ExecResult, error) {
	var out ExecResult
	body, n, err := jsonBody(req)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPost, wsPath(subdir, "exec"), nil, body, n, &out)
	return out, err
}

// Reap makes one pass of the server's reaper over the workspaces the token
// covers.
func (c *Client) Reap(ctx context.Context, req ReapRequest) ([]ReapDecision, error) {
	var out []ReapDecision
	body, n, err := jsonBody(req)
	if err != nil {
		return nil, err
	}
	err = c.do(ctx, http.MethodPost, "/"+Version+"/reap", nil, body, n, &out)
	return out, err
}

// Stats returns one sample of a running workspace's use.
func (c *Client) Stats(ctx context.Context, subdir string) (Stats, error) {
	var out Stats
	err := c.do(ctx, http.MethodGet, wsPath(subdir, "stats"), nil, nil, -1, &out)
	return out, err
}

// CopyFrom returns a tar archive of a path of a workspace (relative to its
// workspace directory, or absolute below it), made safe.
func (c *Client) CopyFrom(ctx context.Context, subdir, p string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, wsPath(subdir, "archive"), url.Values{"path": {p}}, nil, -1, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CopyTo unpacks a tar archive into a directory of a workspace, as its
// user.
func (c *Client) CopyTo(ctx context.Context, subdir, dir string, archive io.Reader) error {
	return c.do(ctx, http.MethodPut, wsPath(subdir, "archive"), url.Values{"path": {dir}}, archive, -1, nil)
}

// ReadFile returns a regular file of a workspace.
func (c *Client) ReadFile(ctx context.Context, subdir, p string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, wsPath(subdir, "file"), url.Values{"path": {p}}, nil, -1, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// WriteFile writes a file of a workspace, whole or not at all (mode 0:
// 0644).
func (c *Client) WriteFile(ctx context.Context, subdir, p string, data []byte, mode uint32) error {
	return c.WriteFileFrom(ctx, subdir, p, bytes.NewReader(data), int64(len(data)), mode)
}

// WriteFileFrom writes a file of a workspace from r, which gives size
// bytes: whole, or, when r ends early, not at all.
func (c *Client) WriteFileFrom(ctx context.Context, subdir, p string, r io.Reader, size int64, mode uint32) error {
	q := url.Values{"path": {p}}
	if mode != 0 {
		q.Set("mode", strconv.FormatUint(uint64(mode), 8))
	}
	return c.do(ctx, http.MethodPut, wsPath(subdir, "file"), q, r, size, nil)
}

// Events streams what happens to the workspaces the token covers (since,
// until: as docker events takes them; "": from now, without end). The
// event channel closes when the stream ends; the error channel then says
// why. Cancel ctx to stop.
func (c *Client) Events(ctx context.Context, since, until string) (<-chan Event, <-chan error) {
	evs, errs := make(chan Event), make(chan error, 1)
	go func() {
		defer close(evs)
		q := url.Values{}
		if since != "" {
			q.Set("since", since)
		}
		if until != "" {
			q.Set("until", until)
		}
		resp, err := c.send(ctx, http.MethodGet, "/"+Version+"/events", q, nil, -1, nil)
		if err != nil {
			errs <- err
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev Event
			if err := dec.Decode(&ev); err != nil {
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					err = nil
				}
				errs <- err
				return
			}
			select {
			case evs <- ev:
			case <-ctx.Done():
				errs <- nil
				return
			}
		}
	}()
	return evs, errs
}

// ExecStream runs a command in a workspace over an upgraded connection:
// stdin is its input (nil: none; its end ends the input), and its output
// goes to stdout and stderr (with req.TTY, all to stdout). It returns the
// command's exit code. height and width size a terminal (0: as it is).
func (c *Client) ExecStream(ctx context.Context, subdir string, req ExecRequest, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return -1, err
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hreq, err := c.request(ctx, http.MethodPost, wsPath(subdir, "exec"), nil, bytes.NewReader(body), int64(len(body)),
		http.Header{"Connection": {"Upgrade"}, "Upgrade": {"tcp"}, "Content-Type": {"application/json"}})
	if err != nil {
		return -1, err
	}
	if err := hreq.Write(conn); err != nil {
		return -1, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return -1, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return -1, readError(resp)
	}
	go func() {
		if stdin != nil {
			_, _ = io.Copy(conn, stdin)
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	return readFrames(br, stdout, stderr)
}

// readFrames demultiplexes a streamed exec's output, to its exit frame.
func readFrames(r io.Reader, stdout, stderr io.Writer) (int, error) {
	var h [8]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return -1, fmt.Errorf("the stream ended without an exit code: %w", err)
		}
		n := int64(binary.BigEndian.Uint32(h[4:]))
		switch h[0] {
		case StreamStdout, StreamStderr:
			w := stdout
			if h[0] == StreamStderr {
				w = stderr
			}
			if w == nil {
				w = io.Discard
			}
			if _, err := io.CopyN(w, r, n); err != nil {
				return -1, err
			}
		case StreamExit:
			var ef ExitFrame
			if err := json.NewDecoder(io.LimitReader(r, n)).Decode(&ef); err != nil {
				return -1, err
			}
			if ef.Error != "" {
				return ef.ExitCode, errors.New(ef.Error)
			}
			return ef.ExitCode, nil
		default:
			return -1, fmt.Errorf("a frame of unknown stream %d", h[0])
		}
	}
}
