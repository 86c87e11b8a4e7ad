package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/thebutton-game/thebutton/web"
)

// The cost of a request against the real Redis, on the story's data (two
// games, five clicks): mostly Redis round trips.
func BenchmarkRequests(b *testing.B) {
	w, clock := story(b)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	for _, path := range []string{"/api/games", "/", "/api/games/1", "/games/1", "/games/1/timer.png", "/players/501", "/lowest"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
