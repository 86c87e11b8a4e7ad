// Package metrics owns the service's Prometheus metrics and its health
// endpoints: every metric name and label of the process, the typed methods
// the other components report through, the /metrics, /healthz and /readyz
// handlers, the readiness state and the Redis/MySQL probes.
//
// It imports the Prometheus client and the standard library only; never
// another package of this module. Callers pass plain strings (a refusal
// reason, a projection or route name), so the packages that report do not
// import this one either: cmd/thebutton wires them together.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of the service.
const Namespace = "thebutton"

// Press outcomes: the label values of thebutton_presses_total. Refusals use
// the reason of commands.Rejection, whose values they mirror.
const (
	OutcomeAccepted   = "accepted"  // a new click was appended
	OutcomeDuplicate  = "duplicate" // the same interaction again: counted once
	OutcomeNoSuchGame = "no_such_game"
	OutcomeWrongGuild = "wrong_guild"
	OutcomeGameOver   = "game_over"
	OutcomeBanned     = "banned"
	OutcomeCooldown   = "cooldown"
	OutcomeSequential = "sequential"
	OutcomeInvalid    = "invalid"
	OutcomeContention = "contention" // still conflicting after the bounded retries
	OutcomeShed       = "shed"       // not decided within its budget (load shedding): nothing recorded
	OutcomeError      = "error"      // NATS or another failure: nothing decided
	OutcomeOther      = "other"      // any outcome not listed here
)

// Outcomes lists every value of the outcome label, in a fixed order.
var Outcomes = []string{
	OutcomeAccepted, OutcomeDuplicate,
	OutcomeNoSuchGame, OutcomeWrongGuild, OutcomeGameOver, OutcomeBanned,
	OutcomeCooldown, OutcomeSequential, OutcomeInvalid,
	OutcomeContention, OutcomeShed, OutcomeError, OutcomeOther,
}

// Press results: the label values of thebutton_press_duration_seconds, a
// coarser grouping of the outcomes (a refusal is decided in memory, an
// acceptance waits for JetStream).
const (
	ResultAccepted = "accepted" // accepted and duplicate
	ResultRefused  = "refused"  // every refusal reason
	ResultError    = "error"    // error, contention and other
	ResultShed     = "shed"     // shed: how long it waited before it was turned away
)

// Game-message edit results: the label values of
// thebutton_game_message_edits_total. Callers use these or another value
// of a small fixed set.
const (
	EditOK          = "ok"           // the message was edited
	EditReposted    = "reposted"     // a fresh message replaced it (30046, 10008)
	EditRateLimited = "rate_limited" // Discord answered 429
	EditFailed      = "failed"       // any other error
)

// Sinks named by thebutton_sink_up.
const (
	SinkRedis = "redis"
	SinkMySQL = "mysql"
)

// PressBuckets are the bounds, in seconds, of the press latency histogram:
// fine from 100 µs (a refusal decided in memory) to 2 s, with 200 ms (the
// alert threshold) as a bound so the alert's quantile is exact there.
var PressBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025,
	0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2,
}

// RenderBuckets are the bounds, in seconds, of the render time histogram.
var RenderBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// press is one outcome's pre-resolved children, so that ObservePress does
// no label lookup and no allocation.
type press struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// Metrics holds every metric of the service, registered on its own
// registry with the Go runtime and process collectors. All methods are safe
// for concurrent use. The zero value is not usable; use New.
type Metrics struct {
	reg *prometheus.Registry

	presses     *prometheus.CounterVec
	pressTime   *prometheus.HistogramVec
	byOutcome   map[string]press
	conflicts   *sumCounter
	lagSeconds  *prometheus.GaugeVec
	lagEvents   *prometheus.GaugeVec
	applied     *prometheus.CounterVec
	batches     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	discordReqs *prometheus.CounterVec
	discord429  *prometheus.CounterVec
	edits       *prometheus.CounterVec
	renderTime  *prometheus.HistogramVec
	sinkUp      *prometheus.GaugeVec
	natsUp      prometheus.Gauge
	effects     *effectCollector
	discordUp   prometheus.Gauge // registered by the first SetDiscordConnected or SetDiscordTokenRefused
	discordBad  prometheus.Gauge
	discordOnce sync.Once
	shardM      shardMetrics // sharded bot (shards.go)

	mu       sync.Mutex
	probeErr map[string]bool // sink → last probe failed; RunProbes logs changes
}

// New returns the metrics of one process on a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		presses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "presses_total",
			Help: "Button presses decided, by outcome: accepted, duplicate, a refusal reason, contention, shed (not decided within its budget, nothing recorded) or error.",
		}, []string{"outcome"}),
		pressTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "press_duration_seconds",
			Help:    "Time to decide a press and append its event (catch-up, decide, append, retries), by result: accepted, refused, error or shed.",
			Buckets: PressBuckets,
		}, []string{"result"}),
		conflicts: &sumCounter{desc: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "", "append_conflicts_total"),
			"Appends refused because another writer appended to the subject first (expected sequence mismatch).",
			nil, nil)},
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "projector_lag_seconds",
			Help: "How far a projection is behind the stream in time (age of the last applied or first unapplied message), by projection.",
		}, []string{"projection"}),
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "projector_lag_events",
			Help: "Stream messages a projection has not applied yet, by projection.",
		}, []string{"projection"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "projector_events_applied_total",
			Help: "Stream messages committed to a projection, by projection.",
		}, []string{"projection"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "projector_batches_total",
			Help: "Batches committed to a projection, by projection.",
		}, []string{"projection"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "projector_retries_total",
			Help: "Failed attempts of a projector step that will be retried, by projection and step (apply, checkpoint, dead-letter).",
		}, []string{"projection", "op"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "dead_letters_total",
			Help: "Messages a projection could not decode and sent to the dead-letter subject, by projection.",
		}, []string{"projection"}),
		discordReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "discord_requests_total",
			Help: "Discord REST calls, by route template and status class (2xx, 4xx, 429, 5xx, error).",
		}, []string{"route", "class"}),
		discord429: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "discord_rate_limited_total",
			Help: "Discord REST calls answered 429 Too Many Requests, by route template.",
		}, []string{"route"}),
		edits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "game_message_edits_total",
			Help: "Game-message updates, by result: ok, reposted, rate_limited, failed.",
		}, []string{"result"}),
		renderTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "render_duration_seconds",
			Help:    "Time to render and encode an image, by kind (timer, end, chart, ...).",
			Buckets: RenderBuckets,
		}, []string{"kind"}),
		sinkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sink_up",
			Help: "1 if the last probe of a projection store (redis, mysql) succeeded, else 0.",
		}, []string{"sink"}),
		natsUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "nats_connected",
			Help: "1 while the NATS connection is up, else 0.",
		}),
		probeErr: make(map[string]bool),
		effects:  newEffectCollector(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.presses, m.pressTime, m.conflicts,
		m.lagSeconds, m.lagEvents, m.applied, m.batches, m.retries, m.deadLetters,
		m.discordReqs, m.discord429, m.edits, m.renderTime,
		m.sinkUp, m.natsUp,
		m.effects,
	)
	for _, r := range []string{EditOK, EditReposted, EditRateLimited, EditFailed} {
		m.edits.WithLabelValues(r) // at 0, so increase() sees the first one
	}
	m.byOutcome = make(map[string]press, len(Outcomes))
	for _, o := range Outcomes {
		m.byOutcome[o] = press{
			count:   m.presses.WithLabelValues(o),
			latency: m.pressTime.WithLabelValues(resultOf(o)),
		}
	}
	return m
}

// resultOf groups an outcome into a latency result.
func resultOf(outcome string) string {
	switch outcome {
	case OutcomeAccepted, OutcomeDuplicate:
		return ResultAccepted
	case OutcomeContention, OutcomeError, OutcomeOther:
		return ResultError
	case OutcomeShed:
		return ResultShed
	default:
		return ResultRefused
	}
}

// Registry is the registry the metrics are on, for collectors the wiring
// adds (database pool statistics, a cache's counters).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObservePress counts one decided press and records how long deciding and
// appending took. outcome is one of Outcomes (a refusal reason such as
// "cooldown"); any other value is counted as "other", so the label stays
// bounded. It does not allocate.
func (m *Metrics) ObservePress(outcome string, d time.Duration) {
	p, ok := m.byOutcome[outcome]
	if !ok {
		p = m.byOutcome[OutcomeOther]
	}
	p.count.Inc()
	p.latency.Observe(d.Seconds())
}

// Conflict counts one append refused for a wrong expected sequence.
func (m *Metrics) Conflict() { m.conflicts.own.Add(1) }

// AddConflictSource adds a running total of conflicts kept elsewhere, such
// as commands.Handler's Stats().Conflicts, read at each scrape:
// thebutton_append_conflicts_total is the sum of every source and of the
// Conflict calls. total must be cheap, safe for concurrent use, and never
// decrease.
func (m *Metrics) AddConflictSource(total func() uint64) {
	m.conflicts.mu.Lock()
	m.conflicts.sources = append(m.conflicts.sources, total)
	m.conflicts.mu.Unlock()
}

// sumCounter is a counter whose value is its own count plus the totals of
// its sources, read when collected.
type sumCounter struct {
	desc    *prometheus.Desc
	own     atomic.Uint64
	mu      sync.Mutex
	sources []func() uint64
}

func (c *sumCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sumCounter) Collect(ch chan<- prometheus.Metric) {
	total := c.own.Load()
	c.mu.Lock()
	for _, src := range c.sources {
		total += src()
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(total))
}

// InitProjections creates the series of each projection at zero (events
// applied, dead letters, lag), so that the first dead letter shows as an
// increase and the lag alert has a series to read before the first batch.
// The wiring calls it once with the projections it runs.
func (m *Metrics) InitProjections(projections ...string) {
	for _, p := range projections {
		m.applied.WithLabelValues(p)
		m.deadLetters.WithLabelValues(p)
		m.lagSeconds.WithLabelValues(p)
		m.lagEvents.WithLabelValues(p)
	}
}

// ProjectorApplied records a committed batch of n messages of projection,
// with its lag after the batch: lag is how long ago the batch's last
// message was stored (projector.Options.OnApplied gives exactly that; a
// caught-up projection shows its store-to-apply delay) and lagEvents the
// stream messages still unapplied.
func (m *Metrics) ProjectorApplied(projection string, n int, lag time.Duration, lagEvents uint64) {
	if n > 0 {
		m.applied.WithLabelValues(projection).Add(float64(n))
	}
	m.batches.WithLabelValues(projection).Inc()
	m.SetProjectorLag(projection, lag, lagEvents)
}

// SetProjectorLag sets a projection's lag without a batch. A projector
// that stalls applies nothing, so the wiring must also sample the lag
// periodically for the lag alert to fire: lagEvents = the stream's last
// sequence − the sink's checkpoint, lag = the age of the first message
// after the checkpoint (0 when there is none). An instance that stands by
// (another holds the projection's lease) should set 0, 0, or its last
// value stays exported.
func (m *Metrics) SetProjectorLag(projection string, lag time.Duration, lagEvents uint64) {
	m.lagSeconds.WithLabelValues(projection).Set(max(lag, 0).Seconds())
	m.lagEvents.WithLabelValues(projection).Set(float64(lagEvents))
	m.deadLetters.WithLabelValues(projection) // at 0 until the first one
}

// ProjectorRetry counts one failed attempt of a projector step (apply,
// checkpoint, dead-letter) that will be retried.
func (m *Metrics) ProjectorRetry(projection, op string) {
	m.retries.WithLabelValues(projection, op).Inc()
}

// DeadLetter counts one message a projection sent to the dead letters.
func (m *Metrics) DeadLetter(projection string) {
	m.deadLetters.WithLabelValues(projection).Inc()
}

// DiscordCall counts one Discord REST call on route, a template from
// DiscordRoute (never a raw URL), answered with the HTTP status (0 when no
// answer came: a network error or a cancelled call). A 429 is also counted
// in thebutton_discord_rate_limited_total, whose series for route is
// created at 0 by the route's first call, so that an alert on its increase
// sees the first 429 (unless the route's very first call is one).
func (m *Metrics) DiscordCall(route string, status int) {
	m.discordReqs.WithLabelValues(route, statusClass(status)).Inc()
	limited := m.discord429.WithLabelValues(route)
	if status == 429 {
		limited.Inc()
	}
}

// statusClass turns an HTTP status into a bounded label value.
func statusClass(status int) string {
	switch {
	case status == 429:
		return "429"
	case status >= 100 && status < 200:
		return "1xx"
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	default:
		return "error"
	}
}

// MessageEdit counts one game-message update with its result (EditOK,
// EditReposted, EditRateLimited, EditFailed or another value of a small
// fixed set).
func (m *Metrics) MessageEdit(result string) { m.edits.WithLabelValues(result).Inc() }

// ObserveRender records how long rendering and encoding one image of kind
// (a small fixed set: "timer", "end", "chart_game", ...) took.
func (m *Metrics) ObserveRender(kind string, d time.Duration) {
	m.renderTime.WithLabelValues(kind).Observe(d.Seconds())
}

// SetSinkUp records whether the last probe of sink (SinkRedis, SinkMySQL)
// succeeded.
func (m *Metrics) SetSinkUp(sink string, up bool) {
	m.sinkUp.WithLabelValues(sink).Set(b2f(up))
}

// SetNATSConnected records whether the NATS connection is up; the wiring
// calls it from the connection's connect, disconnect, reconnect and closed
// handlers.
func (m *Metrics) SetNATSConnected(up bool) { m.natsUp.Set(b2f(up)) }

// SetDiscordConnected sets thebutton_discord_connected: 1 while the bot's
// Discord gateway session is open, 0 while Discord cannot be reached and
// the bot retries. The series exists only in a process that runs the bot
// (its first call registers it), so no alert fires where there is none.
func (m *Metrics) SetDiscordConnected(up bool) {
	m.discordGauges()
	m.discordUp.Set(b2f(up))
}

// SetDiscordTokenRefused sets thebutton_discord_token_refused to 1 (and
// thebutton_discord_connected to 0): Discord refused the bot's token (HTTP
// 401, gateway close 4004), which no retry mends, so the bot stopped
// trying. Like thebutton_discord_connected it exists only with a bot.
func (m *Metrics) SetDiscordTokenRefused() {
	m.discordGauges()
	m.discordUp.Set(0)
	m.discordBad.Set(1)
}

func (m *Metrics) discordGauges() {
	m.discordOnce.Do(func() {
		m.discordUp = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "discord_connected",
			Help: "1 while the Discord gateway session is open, 0 while Discord cannot be reached (the bot retries); absent without a bot.",
		})
		m.discordBad = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "discord_token_refused",
			Help: "1 once Discord refused the bot's token (401, gateway close 4004): the bot stopped trying until restarted with a valid DISCORD_TOKEN; absent without a bot.",
		})
		m.reg.MustRegister(m.discordUp, m.discordBad)
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
