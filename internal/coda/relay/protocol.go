// Package relay carries DevMode terminals between browsers and runners over
// WebSockets. A runner keeps one connection that multiplexes all of its
// terminals; a browser opens one connection per terminal. Terminal bytes
// travel in binary frames, control in small JSON text frames; the protocol
// is described in docs/devmode-protocol.md.
//
// Output is flow controlled per terminal with a credit window: a runner
// sends at most Window unacknowledged bytes of a terminal, and the relay
// acknowledges them only once they were written to the browser (or, while
// no browser is attached, to the terminal's bounded scrollback). A slow
// browser therefore stalls its own shell's output in the kernel's PTY
// buffer, never memory in the relay or the runner, and never another
// terminal of the same runner.
package relay

import (
	"encoding/binary"
	"errors"
)

// Message types of the control protocol.
const (
	TypeHello  = "hello"  // runner → relay: name, os, arch, version
	TypeOpen   = "open"   // relay → runner: start a shell (id, cols, rows); relay → browser: terminal ready
	TypeResize = "resize" // browser → relay → runner: cols, rows
	TypeClose  = "close"  // browser → relay → runner: end the terminal
	TypeExit   = "exit"   // runner → relay → browser: the shell ended with code
	TypeAck    = "ack"    // relay → runner: n more bytes of terminal id may be sent
	TypePing   = "ping"   // either way; answered by pong
	TypePong   = "pong"
	TypeAuth   = "auth"  // browser → relay, first message: ticket (and resume key)
	TypeError  = "error" // relay → browser: why the terminal cannot open
)

// Message is one control message. Fields unused by a type are omitted.
type Message struct {
	Type     string `json:"type"`
	ID       uint32 `json:"id,omitempty"`       // terminal on a runner connection
	Cols     int    `json:"cols,omitempty"`     // open, resize
	Rows     int    `json:"rows,omitempty"`     // open, resize
	Code     *int   `json:"code,omitempty"`     // exit status; -1 when unknown
	N        int    `json:"n,omitempty"`        // ack: bytes consumed
	Window   int    `json:"window,omitempty"`   // open: the credit window in bytes
	Name     string `json:"name,omitempty"`     // hello
	OS       string `json:"os,omitempty"`       // hello
	Arch     string `json:"arch,omitempty"`     // hello
	Version  string `json:"version,omitempty"`  // hello
	Ticket   string `json:"ticket,omitempty"`   // auth
	Terminal string `json:"terminal,omitempty"` // auth (resume) and open to the browser: the resume key
	Resumed  bool   `json:"resumed,omitempty"`  // open to the browser: same shell as before
	Message  string `json:"message,omitempty"`  // error and exit: a human-readable reason
	// Terminals lists, in a runner's hello, the shells it kept open from
	// an earlier connection (a relay restart): the relay takes them back
	// under the same IDs and resume keys.
	Terminals []Kept `json:"terminals,omitempty"`
}

// Kept is a shell a runner kept open while it reconnected.
type Kept struct {
	ID       uint32 `json:"id"`
	Terminal string `json:"terminal"` // the resume key the relay gave in open
	Cols     int    `json:"cols,omitempty"`
	Rows     int    `json:"rows,omitempty"`
}

// MaxKept is the most kept terminals a hello may bring back.
const MaxKept = 256

// Close codes the relay uses (4000–4999 are for applications).
const (
	CloseRevoked  = 4001 // the runner was revoked: pair again
	CloseReplaced = 4002 // the same runner connected again elsewhere
	CloseOffline  = 4004 // browser: the runner is not connected
	CloseRefused  = 4003 // browser: bad or spent ticket
	// CloseRunnerLost tells a browser its runner's connection dropped: the
	// runner keeps the shell and reconnects, so the browser should too.
	CloseRunnerLost = 4005
	// CloseRestart (1012, "service restart") tells runners and browsers
	// the relay is shutting down gracefully: reconnect, and resume.
	CloseRestart = 1012
)

// HeaderLen is the size of a binary frame's header on a runner connection.
const HeaderLen = 4

const headerLen = HeaderLen

// PutFrameID writes terminal id into the header of frame b (at least
// HeaderLen bytes), for senders that read a frame's bytes in place after it.
func PutFrameID(b []byte, id uint32) { binary.BigEndian.PutUint32(b, id) }

// EncodeFrame returns a runner-connection binary frame for terminal id:
// a 4-byte big-endian terminal ID followed by the bytes.
func EncodeFrame(id uint32, p []byte) []byte {
	b := make([]byte, headerLen+len(p))
	binary.BigEndian.PutUint32(b, id)
	copy(b[headerLen:], p)
	return b
}

// DecodeFrame splits a runner-connection binary frame.
func DecodeFrame(b []byte) (uint32, []byte, error) {
	if len(b) < headerLen {
		return 0, nil, errors.New("relay: short frame")
	}
	return binary.BigEndian.Uint32(b), b[headerLen:], nil
}

// IntPtr returns &v, for Message.Code.
func IntPtr(v int) *int { return &v }
