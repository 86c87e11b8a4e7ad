package projector_test

import (
	"net"
	"sync"
	"testing"
)

// hangProxy is a TCP proxy the test controls, between a client and a
// server. It forwards both ways until Hang; from then on it forwards
// nothing (it reads what arrives but holds it, and connections opened
// during the hang are accepted but never answered) until Resume, when the
// held bytes flow on: a network partition or a frozen server as a client
// sees it, where calls hang instead of failing fast. Closing it (when the
// test ends) cuts every connection.
type hangProxy struct {
	ln     net.Listener
	target string
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	resume chan struct{} // not nil while hung; closed by Resume
	conns  map[net.Conn]struct{}
	closed bool
}

// newHangProxy listens on a free loopback port and forwards to target.
func newHangProxy(t testing.TB, target string) *hangProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangProxy{ln: ln, target: target, done: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address, host:port.
func (p *hangProxy) Addr() string { return p.ln.Addr().String() }

// Hang stops forwarding.
func (p *hangProxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// Resume forwards again, the held bytes first.
func (p *hangProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

func (p *hangProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			return
		}
		p.wg.Go(func() {
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				return
			}
			if !p.track(up) {
				return
			}
			var pair sync.WaitGroup
			pair.Go(func() { p.pipe(up, c) })
			pair.Go(func() { p.pipe(c, up) })
			pair.Wait()
		})
	}
}

// track records c so that close can cut it; false if the proxy is closed
// (c is closed then).
func (p *hangProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// pipe copies src to dst, holding what it read while the proxy hangs.
// When either side ends, both are closed.
func (p *hangProxy) pipe(dst, src net.Conn) {
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
func (p *hangProxy) waitForwarding() bool {
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

func (p *hangProxy) close() {
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
