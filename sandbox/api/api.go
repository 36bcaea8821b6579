// Package api is the wire of `docker workspace serve`: the JSON bodies of
// its /v1 HTTP API, its error codes, its OpenAPI document, and a Go
// client ([Client]). A gateway that uses it holds a token of the server's,
// never the Docker socket.
package api

import (
	_ "embed"
	"fmt"
	"time"
)

// Version is the API's version, the first element of every path.
const Version = "v1"

// OpenAPI is the API's OpenAPI 3 document, as the server serves it at
// /v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// The verbs a token may be granted ("*": all).
const (
	VerbList    = "list"
	VerbInspect = "inspect"
	VerbEnsure  = "ensure"
	VerbStop    = "stop"
	VerbRemove  = "remove"
	VerbExec    = "exec"
	VerbCopy    = "cp"
	VerbStats   = "stats"
	VerbEvents  = "events"
	VerbReap    = "reap"
)

// Verbs are all the verbs, in the order of the documentation.
var Verbs = []string{VerbList, VerbInspect, VerbEnsure, VerbStop, VerbRemove, VerbExec, VerbCopy, VerbStats, VerbEvents, VerbReap}

// The stable codes of an [Error].
const (
	CodeBadRequest   = "bad_request"   // 400: the request is malformed or names something invalid
	CodeUnauthorized = "unauthorized"  // 401: no token, an unknown or an expired one
	CodeForbidden    = "forbidden"     // 403: outside the token's workspaces, verbs or fields
	CodeNotFound     = "not_found"     // 404: no such workspace, file or path
	CodeConflict     = "conflict"      // 409: the workspace is not in a state for it
	CodeTooLarge     = "too_large"     // 413: the body is over the server's limit
	CodeLengthNeeded = "length_needed" // 411: a file upload without its length
	CodeTooMany      = "too_many"      // 429: the token has too many calls at once
	CodeCancelled    = "cancelled"     // 499: the caller left before the answer
	CodeUnavailable  = "unavailable"   // 503: the engine did not answer
	CodeInternal     = "internal"      // 500: anything else
)

// Error is the body of every answer that is not a success.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Status is the HTTP status it came with (not in the body).
	Status int `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Workspace is a workspace as list and inspect tell it.
type Workspace struct {
	Subdir  string    `json:"subdir"`
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Mode    string    `json:"mode"`
	Image   string    `json:"image"`
	State   string    `json:"state"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	Node    string    `json:"node,omitempty"`
	Drift   []string  `json:"drift,omitempty"`
}

// EnsureRequest is the body of an ensure: empty. The configuration is
// the token's; a caller that sends one is refused.
type EnsureRequest struct {
	Config map[string]any `json:"config,omitempty"`
}

// EnsureResult is what an ensure did.
type EnsureResult struct {
	Subdir string   `json:"subdir"`
	Name   string   `json:"name"`
	ID     string   `json:"id"`
	Action string   `json:"action"`
	Image  string   `json:"image"`
	Node   string   `json:"node,omitempty"`
	Drift  []string `json:"drift,omitempty"`
}

// StopRequest is the body of a stop (may be empty).
type StopRequest struct {
	// Timeout is how long to wait, in seconds, before killing (nil: the
	// server's default).
	Timeout *int `json:"timeout,omitempty"`
}

// ExecRequest runs a command in a workspace, ensured first.
type ExecRequest struct {
	Cmd     []string `json:"cmd"`
	Env     []string `json:"env,omitempty"`
	Workdir string   `json:"workdir,omitempty"`
	// Stdin is the command's standard input (buffered form).
	Stdin string `json:"stdin,omitempty"`
	// TTY allocates a terminal (streamed form only).
	TTY bool `json:"tty,omitempty"`
}

// ExecResult is the outcome of a buffered exec.
type ExecResult struct {
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// Truncated says that the output was over the server's limit and was
	// cut there.
	Truncated bool `json:"truncated,omitempty"`
}

// Stats is one sample of a workspace's use.
type Stats struct {
	CPUPercent  float64 `json:"cpuPercent"`
	MemoryBytes uint64  `json:"memoryBytes"`
	MemoryLimit uint64  `json:"memoryLimit"`
	PIDs        uint64  `json:"pids"`
}

// Event is one thing that happened to a workspace (a line of the events
// stream).
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Reason   string    `json:"reason"`
	Subdir   string    `json:"subdir"`
	Name     string    `json:"name"`
	ID       string    `json:"id"`
	Node     string    `json:"node,omitempty"`
	ExitCode *int      `json:"exitCode,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// ReapRequest is one pass of the server's reaper over the workspaces the
// token covers. The server keeps what it saw between passes (per token
// and options), as a reaper that stays does: call it every interval.
type ReapRequest struct {
	// IdleFor is how long a workspace must be idle to be suspended (a Go
	// duration: "30m").
	IdleFor string `json:"idleFor"`
	// Action is "stop" (the default) or "pause".
	Action string `json:"action,omitempty"`
	// CPU is the share of one CPU above which a workspace is busy (0: 0.01).
	CPU float64 `json:"cpu,omitempty"`
	// Once suspends, in this one call, those that have run for IdleFor and
	// are idle now (for cron).
	Once bool `json:"once,omitempty"`
	// Timeout is how long a stop waits before it kills, in seconds (nil:
	// the server's default).
	Timeout *int `json:"timeout,omitempty"`
}

// ReapDecision is what a pass concluded about one workspace.
type ReapDecision struct {
	Subdir    string    `json:"subdir"`
	Name      string    `json:"name"`
	Action    string    `json:"action"` // busy, idle, stopped, paused
	Why       string    `json:"why"`
	IdleSince time.Time `json:"idleSince,omitzero"`
}

// The frames of a streamed exec, from the server: as the engine's
// multiplexed stream (a header of 8 bytes: the stream, three zeros, the
// length big-endian; then the data), with a last frame of stream
// StreamExit that holds an [ExitFrame] in JSON.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamExit   byte = 3
)

// ExitFrame ends a streamed exec.
type ExitFrame struct {
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

// AuditRecord is one line of the audit log: a mutating call, or any
// refusal. It never holds a secret.
type AuditRecord struct {
	Time      time.Time `json:"time"`
	Token     string    `json:"token"`
	Verb      string    `json:"verb"`
	Workspace string    `json:"workspace,omitempty"`
	Outcome   string    `json:"outcome"` // "ok", "denied", "error", "cancelled"
	Status    int       `json:"status"`
	Code      string    `json:"code,omitempty"`
	LatencyMS float64   `json:"latencyMs"`
	Peer      string    `json:"peer"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
}
