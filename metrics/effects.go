package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EffectBacklog is the queued Discord effects of one kind.
type EffectBacklog struct {
	// Effects queued or running.
	Effects int
	// Oldest is how long the oldest of them has waited (0: none).
	Oldest time.Duration
}

// effectCollector reads the discord-effects reactor's backlog at scrape
// time.
type effectCollector struct {
	pending, oldest *prometheus.Desc

	mu sync.Mutex
	fn func() map[string]EffectBacklog
}

func newEffectCollector() *effectCollector {
	return &effectCollector{
		pending: prometheus.NewDesc(Namespace+"_discord_effects_pending",
			"Discord effects queued or running, by kind (game: starts and ends; announce; role).", []string{"kind"}, nil),
		oldest: prometheus.NewDesc(Namespace+"_discord_effect_oldest_seconds",
			"How long the oldest queued Discord effect of a kind has waited (0: none).", []string{"kind"}, nil),
	}
}

func (c *effectCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
}

func (c *effectCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fn := c.fn
	c.mu.Unlock()
	if fn == nil {
		return
	}
	for kind, b := range fn() {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(b.Effects), kind)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, b.Oldest.Seconds(), kind)
	}
}

// WatchEffects exports the discord-effects backlog that fn returns (by
// kind) at every scrape; fn must be quick and safe for concurrent use.
func (m *Metrics) WatchEffects(fn func() map[string]EffectBacklog) {
	m.effects.mu.Lock()
	defer m.effects.mu.Unlock()
	m.effects.fn = fn
}
