// Package testproxy is a TCP proxy that a test puts between a client and
// a server it must not stop (a shared MariaDB or Redis) to break the
// connection in the ways a network does: calls that hang, or connections
// refused.
//
// It imports the standard library only, and is for tests alone.
package testproxy

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server. It forwards both ways until
// Hang; from then on it forwards nothing (it reads what arrives but holds
// it, and connections opened during the hang are accepted but never
// answered) until Resume, when the held bytes flow on: a network
// partition or a frozen server as a client sees it, where calls hang
// instead of failing fast. Refuse cuts every connection and closes new
// ones at once (a server that is down) until Resume. Closing it (when the
// test ends) cuts every connection. Its methods are safe for concurrent
// use.
type Proxy struct {
	ln     net.Listener
	target string
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	resume  chan struct{} // not nil while hung; closed by Resume
	refused bool
	conns   map[net.Conn]struct{}
	closed  bool
}

// New listens on a free loopback port and forwards to target (host:port).
// It is closed when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, done: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Hang stops forwarding.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// Refuse cuts every connection and closes new ones at once.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Resume forwards again, the held bytes first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = false
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			continue
		}
		p.wg.Go(func() {
			defer p.untrack(c)
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				return
			}
			if !p.track(up) {
				_ = c.Close()
				return
			}
			defer p.untrack(up)
			var pair sync.WaitGroup
			pair.Go(func() { p.pipe(up, c) })
			pair.Go(func() { p.pipe(c, up) })
			pair.Wait()
		})
	}
}

// track records c so that Refuse and close can cut it; false (and c
// closed) if the proxy refuses connections or is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.refused {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// pipe copies src to dst, holding what it read while the proxy hangs.
// When either side ends, both are closed.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitForwarding() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or cut: the other side is closed by the defer
			return
		}
	}
}

// waitForwarding blocks while the proxy hangs; false if it was closed.
func (p *Proxy) waitForwarding() bool {
	p.mu.Lock()
	resume := p.resume
	p.mu.Unlock()
	if resume == nil {
		return true
	}
	select {
	case <-resume:
		return true
	case <-p.done:
		return false
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
