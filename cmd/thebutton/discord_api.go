package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// apiRedirect sends requests for Discord's hosts to another base URL
// (DISCORD_API_URL): a Discord-compatible server such as the project's fake
// Discord in tests and benchmarks. The gateway's URL comes from that
// server's GET /gateway/bot.
type apiRedirect struct {
	base *url.URL
	next http.RoundTripper
}

// parseAPIURL checks a DISCORD_API_URL value.
func parseAPIURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("DISCORD_API_URL: %q is not an http(s) URL", s)
	}
	return u, nil
}

func (t apiRedirect) RoundTrip(r *http.Request) (*http.Response, error) {
	h := r.URL.Hostname()
	if h == "discord.com" || strings.HasSuffix(h, ".discord.com") || h == "discordapp.com" || strings.HasSuffix(h, ".discordapp.com") {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
