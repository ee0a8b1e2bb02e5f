package pgtest

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// cancelRequestCode identifies a CancelRequest message of the PostgreSQL
// protocol: a 16-byte packet whose second word is this code.
const cancelRequestCode = 80877102

// noCancelDialer is the lib/pq dialer of the pools Open returns in pooled
// mode. It drops CancelRequest packets instead of sending them, because
// PgBouncer 1.18 exits ("bad client state" in disconnect_client) when a
// client disconnects while its cancel request is in flight, and lib/pq
// sends one whenever a context ends during a query. Such a query runs to
// its end on the server, and lib/pq still returns the context's error and
// discards the connection.
type noCancelDialer struct {
	dialer net.Dialer
}

func (d noCancelDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d noCancelDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d noCancelDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := d.dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &cancelFilter{Conn: conn}, nil
}

// cancelFilter closes a connection whose first packet is a CancelRequest
// instead of sending it.
type cancelFilter struct {
	net.Conn
	once sync.Once
	drop bool
}

func (c *cancelFilter) Write(p []byte) (int, error) {
	c.once.Do(func() {
		c.drop = len(p) == 16 && binary.BigEndian.Uint32(p[4:8]) == cancelRequestCode
	})
	if c.drop {
		_ = c.Conn.Close()
		return len(p), nil
	}
	return c.Conn.Write(p)
}
