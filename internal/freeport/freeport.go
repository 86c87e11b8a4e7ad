// Package freeport picks loopback TCP ports for the servers this project
// starts itself: the nodes of a bench cluster, and the servers tests start
// on their own.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// low is the lowest port Loopback picks.
const low = 10000

// Loopback returns a port free on 127.0.0.1 at the time of the call. It is
// chosen at random below the kernel's ephemeral range: a port the kernel
// hands out for port 0 is an ephemeral one, which any connection dialled
// before the server listens may take as its own local port (a route
// another node of the cluster dials, say), and the server then fails to
// start. Where the ephemeral range leaves too little room below it, the
// kernel picks.
func Loopback() (int, error) {
	if high := ephemeralLow(); high-low >= 1000 {
		for range 100 {
			port := low + rand.IntN(high-low)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Fataler is what ForTest needs of a *testing.T or *testing.B.
type Fataler interface {
	Helper()
	Fatal(args ...any)
}

// ForTest is Loopback for a test, which it fails when no port is free.
func ForTest(tb Fataler) int {
	tb.Helper()
	port, err := Loopback()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768,
// Linux's default, where it cannot be read).
func ephemeralLow() int {
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 32768
}
