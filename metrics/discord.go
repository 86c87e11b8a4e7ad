package metrics

import (
	"net/http"
	"strings"
)

// DiscordRoute returns the bounded route template of a Discord REST call,
// such as "PATCH /channels/{id}/messages/{id}", from its method and URL
// (absolute or a path, with or without the /api/vN prefix and a query).
// Snowflakes become {id}, interaction and webhook tokens {token}, reaction
// emoji {emoji}, and any other segment that is not a plain lowercase word
// {param}; so no id, token or user text ever becomes a label value.
func DiscordRoute(method, rawURL string) string {
	p := rawURL
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.Index(p, "://"); i >= 0 { // drop scheme and host
		p = p[i+3:]
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[j:]
		} else {
			p = ""
		}
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) >= 2 && segs[0] == "api" && isVersion(segs[1]) {
		segs = segs[2:]
	} else if len(segs) >= 1 && segs[0] == "api" {
		segs = segs[1:]
	}
	var b strings.Builder
	b.Grow(len(method) + len(p) + 8)
	b.WriteString(strings.ToUpper(method))
	b.WriteByte(' ')
	if len(segs) == 0 || (len(segs) == 1 && segs[0] == "") {
		b.WriteByte('/')
		return b.String()
	}
	for i, s := range segs {
		b.WriteByte('/')
		prev, prev2 := "", ""
		if i > 0 {
			prev = segs[i-1]
		}
		if i > 1 {
			prev2 = segs[i-2]
		}
		switch {
		case (prev2 == "interactions" || prev2 == "webhooks") && isSnowflake(prev):
			b.WriteString("{token}")
		case prev == "reactions":
			b.WriteString("{emoji}")
		case isSnowflake(s):
			b.WriteString("{id}")
		case isWord(s):
			b.WriteString(s)
		default:
			b.WriteString("{param}")
		}
	}
	return b.String()
}

// isVersion reports whether s is an API version segment such as "v10".
func isVersion(s string) bool { return len(s) >= 2 && s[0] == 'v' && isSnowflake(s[1:]) }

// isSnowflake reports whether s is all digits.
func isSnowflake(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isWord reports whether s is a static route segment: lowercase letters,
// '-', '_' and '@' (as in "@me", "@original"), at most 32 bytes.
func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && c != '-' && c != '_' && c != '@' {
			return false
		}
	}
	return true
}

// DiscordTransport returns an http.RoundTripper that counts every request
// it carries with DiscordCall, under its DiscordRoute and status (0 when
// next returned an error). Set it as the transport of the Discord
// session's HTTP client so that every REST call, retries included, is
// counted. next nil means http.DefaultTransport. It is safe for concurrent
// use, as next must be.
func (m *Metrics) DiscordTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &discordTransport{m: m, next: next}
}

type discordTransport struct {
	m    *Metrics
	next http.RoundTripper
}

func (t *discordTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	route := DiscordRoute(r.Method, r.URL.Path)
	resp, err := t.next.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.m.DiscordCall(route, status)
	return resp, err
}
