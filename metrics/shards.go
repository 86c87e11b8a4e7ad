package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// shardMetrics are the metrics of a bot sharded over several processes,
// registered on first use (absent from a process without a bot).
type shardMetrics struct {
	once       sync.Once
	held       prometheus.Gauge
	takeovers  prometheus.Histogram
	budgetWait prometheus.Histogram
}

func (m *Metrics) shards() *shardMetrics {
	s := &m.shardM
	s.once.Do(func() {
		s.held = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "discord_shards_held",
			Help: "Gateway shards this process holds the lease of (sharded mode, DISCORD_SHARDS).",
		})
		s.takeovers = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "discord_shard_takeover_seconds",
			Help:    "How long a shard taken over from another process had gone without a renewal of its lease.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 15, 20, 30, 60},
		})
		s.budgetWait = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "discord_budget_wait_seconds",
			Help:    "How long each Discord REST call waited for the global budget shared by every process of the bot.",
			Buckets: []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10},
		})
		m.reg.MustRegister(s.held, s.takeovers, s.budgetWait)
	})
	return s
}

// SetShardsHeld records how many gateway shards this process holds.
func (m *Metrics) SetShardsHeld(n int) { m.shards().held.Set(float64(n)) }

// ShardTakeover records a shard taken over after it went unrenewed for d.
func (m *Metrics) ShardTakeover(_ int, d time.Duration) { m.shards().takeovers.Observe(d.Seconds()) }

// BudgetWait records a REST call's wait for the shared Discord budget.
func (m *Metrics) BudgetWait(d time.Duration) { m.shards().budgetWait.Observe(d.Seconds()) }
