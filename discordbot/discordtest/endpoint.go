package discordtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// RouteHTTPResponse is the Route of the Call recording an interaction's
// HTTP response when interactions go to an endpoint: it counts as the
// interaction's callback, as on Discord.
const RouteHTTPResponse = "HTTP response to an interaction"

// endpoint is an application's Interactions Endpoint URL and the private
// key Discord signs its requests with.
type endpoint struct {
	url    string
	key    ed25519.PrivateKey
	client *http.Client
}

// SetInteractionsEndpoint makes the fake deliver interactions as Discord
// does to an application with an Interactions Endpoint URL: a POST to url
// signed with key (X-Signature-Ed25519 over X-Signature-Timestamp and the
// body), and none over the gateway. The HTTP response is the interaction's
// initial response (JSON, or multipart with payload_json and files), held
// to the same rules and window as a callback. An empty url goes back to
// the gateway.
func (s *Server) SetInteractionsEndpoint(url string, key ed25519.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if url == "" {
		s.endpoint = nil
		return
	}
	s.endpoint = &endpoint{url: url, key: key, client: &http.Client{Transport: s.transport, Timeout: 10 * time.Second}}
}

// SignInteraction returns the headers Discord sends with body at time at,
// signed with key. Tests and benchmarks use it to make requests of their
// own.
func SignInteraction(key ed25519.PrivateKey, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(key, append([]byte(ts), body...))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	h.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	h.Set("X-Signature-Timestamp", ts)
	return h
}

// VerifyEndpoint checks the endpoint as Discord does when its URL is
// saved in the developer portal: a signed PING must get a PONG, and a
// request with a wrong signature must get 401.
func (s *Server) VerifyEndpoint(ctx context.Context) error {
	s.mu.Lock()
	ep := s.endpoint
	s.mu.Unlock()
	if ep == nil {
		return fmt.Errorf("discordtest: no interactions endpoint set")
	}
	ping, _ := json.Marshal(map[string]any{"id": s.NewID(), "application_id": s.AppID, "type": 1, "token": "ping", "version": 1})
	h := SignInteraction(ep.key, s.now(), ping)
	status, ctype, body, err := ep.do(ctx, h, ping)
	if err != nil {
		return err
	}
	var pong struct{ Type int }
	if status != http.StatusOK || json.Unmarshal(body, &pong) != nil || pong.Type != 1 {
		return fmt.Errorf("discordtest: PING answered %d %s %q, want 200 {\"type\":1}", status, ctype, body)
	}
	bad := SignInteraction(ep.key, s.now(), ping)
	bad.Set("X-Signature-Ed25519", hex.EncodeToString(make([]byte, ed25519.SignatureSize)))
	if status, _, _, err = ep.do(ctx, bad, ping); err != nil {
		return err
	}
	if status != http.StatusUnauthorized {
		return fmt.Errorf("discordtest: a wrong signature was answered %d, want 401", status)
	}
	return nil
}

func (ep *endpoint) do(ctx context.Context, h http.Header, body []byte) (status int, ctype string, resp []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header = h
	r, err := ep.client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer r.Body.Close()
	resp, err = io.ReadAll(io.LimitReader(r.Body, 32<<20))
	return r.StatusCode, r.Header.Get("Content-Type"), resp, err
}

// post delivers i to the interactions endpoint, if one is set, in the
// background; it reports whether it did.
func (s *Server) post(i *Interaction, raw []byte) bool {
	s.mu.Lock()
	ep := s.endpoint
	if ep != nil {
		i.delivered = 1
	}
	s.mu.Unlock()
	if ep == nil {
		return false
	}
	s.posts.Go(func() {
		at := s.now()
		i.sentAt.CompareAndSwap(0, at.UnixNano())
		status, ctype, body, err := ep.do(context.Background(), SignInteraction(ep.key, at, raw), raw)
		c := Call{Method: http.MethodPost, Path: ep.url, Route: RouteHTTPResponse, At: s.now(), Status: status,
			Vars: map[string]string{"interaction": i.ID, "token": i.Token}}
		if err == nil && status == http.StatusOK {
			c.Body, c.Files, err = parseBody(ctype, bytes.NewReader(body))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err == nil && status == http.StatusOK {
			c.Status, _ = s.callback(&c)
		} else {
			c.Body = body
		}
		s.calls = append(s.calls, c)
		s.notifyLocked()
	})
	return true
}
