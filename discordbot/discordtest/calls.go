package discordtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Call is one REST request the fake received, as it received it.
type Call struct {
	Method string
	// Path is the request path without the /api/vN prefix.
	Path string
	// Route is the pattern that served it, such as
	// "PATCH /channels/{channel}/messages/{message}"; "" for an unknown route.
	Route string
	// Vars are the route's path variables (channel, message, guild…).
	Vars map[string]string
	// Body is the JSON body, or the payload_json part of a multipart body.
	Body json.RawMessage
	// Files are the multipart attachments.
	Files []File
	// Status is the HTTP status answered; Code the Discord error code, if any.
	Status int
	Code   int
	At     time.Time
	// Bucket is the rate-limit bucket the call counted against.
	Bucket string
	// Global reports whether the call counted against the global limit.
	Global bool
	// AuditReason is the X-Audit-Log-Reason header.
	AuditReason string

	auth string
}

// File is a multipart attachment.
type File struct {
	Field, Name, ContentType string
	Data                     []byte
}

// Decode unmarshals the call's body into v.
func (c Call) Decode(v any) error { return json.Unmarshal(c.Body, v) }

// Calls returns every call so far, in order of arrival.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls served by route (a pattern such as
// "POST /channels/{channel}/messages"), optionally only those whose path
// variables include every pair of vars.
func (s *Server) CallsTo(route string, vars ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
next:
	for _, c := range s.calls {
		if c.Route != route {
			continue
		}
		for i := 0; i+1 < len(vars); i += 2 {
			if c.Vars[vars[i]] != vars[i+1] {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// RateLimited returns the calls answered with 429.
func (s *Server) RateLimited() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Status == http.StatusTooManyRequests {
			out = append(out, c)
		}
	}
	return out
}

// Failure makes matching calls fail.
type Failure struct {
	// Route is the pattern to fail, such as
	// "PUT /guilds/{guild}/members/{user}/roles/{role}".
	Route string
	// Vars restricts the failure to calls with these path variables.
	Vars map[string]string
	// Times is how many calls fail; 0 fails every matching call.
	Times int
	// Status and Code are the answer, such as 403 and 50013.
	Status, Code int
	Message      string
}

type failure struct {
	Failure
	used int
}

// Fail installs a failure. Failures are checked in the order installed.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Message == "" {
		f.Message = fmt.Sprintf("injected failure %d", f.Code)
	}
	s.failures = append(s.failures, &failure{Failure: f})
}

// ClearFailures removes every installed failure.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

// failureFor returns the failure a call meets, if any. Caller holds s.mu.
func (s *Server) failureFor(c *Call) *failure {
next:
	for _, f := range s.failures {
		if f.Route != c.Route || (f.Times > 0 && f.used >= f.Times) {
			continue
		}
		for k, v := range f.Vars {
			if c.Vars[k] != v {
				continue next
			}
		}
		f.used++
		return f
	}
	return nil
}

// bucket is a fixed-window rate limit.
type bucket struct {
	limit     Limit
	remaining int
	reset     time.Time
	hash      string
}

// take counts one request at now; it reports whether the request may
// proceed and, if not, how long until the window resets.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if !now.Before(b.reset) {
		b.remaining = b.limit.Requests
		b.reset = now.Add(b.limit.Window)
	}
	if b.remaining <= 0 {
		return false, b.reset.Sub(now)
	}
	b.remaining--
	return true, 0
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(math.Max(d.Seconds(), 0), 'f', 3, 64)
}

// headers writes the bucket's rate-limit headers.
func (b *bucket) headers(h http.Header, now time.Time) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit.Requests))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(b.remaining, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(b.reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", seconds(b.reset.Sub(now)))
	h.Set("X-RateLimit-Bucket", b.hash)
}

// bucketFor returns the bucket of a route and its major parameter value.
// Caller holds s.mu.
func (s *Server) bucketFor(route, major string) *bucket {
	key := route + " " + major
	b := s.buckets[key]
	if b == nil {
		l, ok := s.opts.Routes[route]
		if !ok {
			l, ok = DefaultRouteLimits[route]
		}
		if !ok {
			l = defaultLimit
		}
		sum := sha1.Sum([]byte(route))
		b = &bucket{limit: l, hash: hex.EncodeToString(sum[:8])}
		s.buckets[key] = b
	}
	return b
}

// tooMany is Discord's 429 body.
type tooMany struct {
	Message    string  `json:"message"`
	RetryAfter float64 `json:"retry_after"`
	Global     bool    `json:"global"`
	Code       int     `json:"code,omitempty"`
}
