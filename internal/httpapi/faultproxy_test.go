package httpapi_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

// faultProxy forwards loopback TCP connections to a PostgreSQL server and
// breaks them on request: it resets a connection when the client sends a
// chosen statement, or freezes every connection, as a server that went
// silent would.
type faultProxy struct {
	t        *testing.T
	listener net.Listener
	target   string

	mu    sync.Mutex
	conns map[net.Conn]bool
	// accepted counts the client connections accepted.
	accepted int
	// thawed is closed while the proxy forwards, and open while it is
	// frozen.
	thawed chan struct{}
	// The next cuts client messages that contain cutPattern reset their
	// connection instead of reaching the server.
	cutPattern []byte
	cuts       int
}

// newFaultProxy starts a proxy in front of the server of databaseURL and
// returns it with databaseURL rewritten to go through it.
func newFaultProxy(t *testing.T, databaseURL string) (*faultProxy, string) {
	t.Helper()
	// The proxy stands for the network to the server, so it leads to the
	// server itself even when the tests run through PgBouncer. PgBouncer
	// 1.18 exits ("bad client state" in disconnect_client) when a client
	// connection is reset while its cancel request is in flight.
	u, err := url.Parse(pgtest.DirectURL(databaseURL))
	require.NoError(t, err)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	thawed := make(chan struct{})
	close(thawed)
	p := &faultProxy{t: t, listener: listener, target: u.Host, conns: map[net.Conn]bool{}, thawed: thawed}
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.thaw()
		p.closeAll()
	})
	u.Host = listener.Addr().String()
	return p, u.String()
}

func (p *faultProxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		go p.serve(client)
	}
}

func (p *faultProxy) serve(client net.Conn) {
	p.mu.Lock()
	p.accepted++
	p.mu.Unlock()
	p.track(client)
	<-p.gate()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.track(server)
	go p.pipe(server, client, false)
	p.pipe(client, server, true)
}

// pipe copies src to dst until either fails, then closes both. Client
// messages are checked against the cut pattern.
func (p *faultProxy) pipe(src, dst net.Conn, fromClient bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if fromClient && p.takeCut(buf[:n]) {
				// A reset, unlike an orderly close, reaches the caller
				// as a network error. lib/pq turns an EOF into
				// driver.ErrBadConn, after which database/sql may send
				// the statement again by itself.
				if tcp, ok := src.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0)
				}
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.t.Logf("fault proxy: %v", err)
			}
			return
		}
	}
}

func (p *faultProxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thawed
}

func (p *faultProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.conns[c] = true
	}
}

func (p *faultProxy) takeCut(message []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cuts > 0 && bytes.Contains(message, p.cutPattern) {
		p.cuts--
		return true
	}
	return false
}

// cutOn makes the next n client messages that contain pattern reset their
// connection.
func (p *faultProxy) cutOn(pattern string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutPattern, p.cuts = []byte(pattern), n
}

// cutsLeft returns how many cuts have not happened yet.
func (p *faultProxy) cutsLeft() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// acceptedCount returns how many client connections the proxy accepted.
func (p *faultProxy) acceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// freeze stops forwarding without closing anything: reads through the
// proxy wait, and new connections are accepted but get no response.
func (p *faultProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thawed = make(chan struct{})
}

// thaw forwards again.
func (p *faultProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// closeAll closes every connection the proxy opened or accepted.
func (p *faultProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
