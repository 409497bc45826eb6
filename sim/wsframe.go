package sim

import (
	"bufio"
	"encoding/binary"
	"io"
)

// WebSocket opcodes (RFC 6455, section 5.2) of the frames the server sends.
const (
	opText  byte = 0x1
	opClose byte = 0x8
	opPing  byte = 0x9
	opPong  byte = 0xA
)

// frameWriter writes server-to-client WebSocket frames through a buffer.
//
// gorilla/websocket handles the handshake and reading, but it flushes every
// message with its own system call. At tens of thousands of small frames a
// second that costs the server, and the client on the same machine, more than
// everything else, so the writer goroutine frames messages itself (server
// frames are unmasked and trivial to frame) and flushes once per burst. All
// writes after the upgrade go through the connection's writer goroutine,
// control frames included, so gorilla never writes concurrently with it.
type frameWriter struct {
	bw *bufio.Writer
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{bw: bufio.NewWriterSize(w, 64<<10)}
}

// write buffers one final (unfragmented) frame.
func (w *frameWriter) write(op byte, payload []byte) error {
	var hdr [10]byte
	hdr[0] = 0x80 | op // FIN
	n := len(payload)
	var h []byte
	switch {
	case n < 126:
		hdr[1] = byte(n)
		h = hdr[:2]
	case n <= 0xFFFF:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = hdr[:4]
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = hdr[:10]
	}
	if _, err := w.bw.Write(h); err != nil {
		return err
	}
	_, err := w.bw.Write(payload)
	return err
}

func (w *frameWriter) flush() error { return w.bw.Flush() }
