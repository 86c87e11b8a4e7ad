package main

import (
	"net"
	"sync"
	"testing"
)

// opsFaultProxy is a TCP proxy on a loopback port that the test controls:
// forwarding, it pipes every connection to target; hanging, it accepts
// connections and never answers (a network that drops packets, not a
// clean refusal). Switching to forwarding closes the hung connections.
type opsFaultProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond
	closed  bool
	forward bool
	refuse  bool // while not forwarding: close new connections at once
	hung    map[net.Conn]struct{}
	live    map[net.Conn]struct{}
}

func opsNewFaultProxy(t *testing.T, target string, forward bool) *opsFaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &opsFaultProxy{ln: ln, target: target, forward: forward,
		hung: make(map[net.Conn]struct{}), live: make(map[net.Conn]struct{})}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *opsFaultProxy) addr() string { return p.ln.Addr().String() }

func (p *opsFaultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.forward {
			if p.refuse {
				c.Close()
			} else {
				p.hung[c] = struct{}{}
			}
			p.mu.Unlock()
			continue
		}
		p.live[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *opsFaultProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.live[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.copy(up, c); done <- struct{}{} }()
	go func() { p.copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.live, c)
	delete(p.live, up)
	p.mu.Unlock()
}

// copy forwards src to dst, holding what it reads while the proxy hangs.
func (p *opsFaultProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for !p.forward && !p.closed {
				p.cond.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hang makes the proxy stop forwarding: open connections stay open but
// carry nothing more, new ones are accepted and never answered.
func (p *opsFaultProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forward = false
	for c := range p.live {
		p.hung[c] = struct{}{}
	}
}

// drop makes the proxy stop forwarding by resetting every connection and
// closing new ones at once (a server gone, not a silent network).
func (p *opsFaultProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forward, p.refuse = false, true
	for c := range p.live {
		c.Close()
		delete(p.live, c)
	}
	p.cond.Broadcast()
}

// resume forwards again and resets every connection held while hanging
// (as a partition that heals: the clients reconnect).
func (p *opsFaultProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forward, p.refuse = true, false
	for c := range p.hung {
		c.Close()
		delete(p.hung, c)
	}
	p.cond.Broadcast()
}

func (p *opsFaultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	for c := range p.hung {
		c.Close()
	}
	for c := range p.live {
		c.Close()
	}
}
