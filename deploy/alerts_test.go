package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/thebutton-game/thebutton/metrics"
)

// ruleFile is the Prometheus rule file format.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var rules []rule
	for _, g := range f.Groups {
		if g.Name == "" {
			t.Error("alerts.yml: a group without a name")
		}
		rules = append(rules, g.Rules...)
	}
	return rules
}

// exported returns the metric families the service exports, each with its
// label names, after every metric was reported into once.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	m := metrics.New()
	m.ObservePress(metrics.OutcomeAccepted, time.Millisecond)
	m.Conflict()
	m.InitProjections("redis")
	m.ProjectorApplied("redis", 1, time.Millisecond, 0)
	m.ProjectorRetry("redis", "apply")
	m.DeadLetter("redis")
	m.DiscordCall("GET /gateway/bot", 429)
	m.MessageEdit(metrics.EditOK)
	m.ObserveRender("timer", time.Millisecond)
	m.SetSinkUp(metrics.SinkRedis, true)
	m.SetNATSConnected(true)
	m.WatchEffects(func() map[string]metrics.EffectBacklog {
		return map[string]metrics.EffectBacklog{"announce": {Effects: 1, Oldest: time.Second}}
	})
	m.SetDiscordConnected(true)
	m.SetShardsHeld(1)
	m.ShardTakeover(0, time.Second)
	m.BudgetWait(time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range fams {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		name := f.GetName()
		switch f.GetType().String() {
		case "HISTOGRAM":
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_sum"] = labels
			out[name+"_count"] = labels
		default:
			out[name] = labels
		}
	}
	// Series Prometheus itself adds to every target.
	out["up"] = nil
	return out
}

var (
	// A metric name in an expression: thebutton_… or the built-in up.
	metricRE = regexp.MustCompile(`\b(thebutton_[a-z0-9_]+|up)\b(\{[^}]*\})?`)
	// A label matcher inside {…}.
	matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
	// A by (…) or without (…) clause.
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// A Prometheus duration such as 5m or 0m.
	durationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// TestAlertRules checks each rule's shape, and that every metric, label
// matcher and grouping label of its expression exists in the metrics
// package (a rule on a misspelt metric would never fire).
func TestAlertRules(t *testing.T) {
	rules := loadRules(t)
	names := exported(t)
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("a rule without alert (recording rules belong elsewhere): %q", r.Expr)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if strings.TrimSpace(r.Expr) == "" {
			t.Errorf("%s: no expr", r.Alert)
		}
		if !durationRE.MatchString(r.For) {
			t.Errorf("%s: for %q is not a Prometheus duration", r.Alert, r.For)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: labels.severity %q, want warning or critical", r.Alert, s)
		}
		if strings.TrimSpace(r.Annotations["summary"]) == "" {
			t.Errorf("%s: no annotations.summary", r.Alert)
		}
		checkExpr(t, r.Alert, r.Expr, names)
		// Metrics the annotations send the reader to exist too.
		for _, text := range r.Annotations {
			for _, m := range metricRE.FindAllStringSubmatch(text, -1) {
				if _, ok := names[m[1]]; !ok && m[1] != "up" {
					t.Errorf("%s: the annotations name %s, which does not exist", r.Alert, m[1])
				}
			}
		}
	}
}

// checkExpr checks that every metric, label matcher and grouping label of
// a PromQL expression exists in the metrics package (an expression on a
// misspelt metric would stay empty forever). where names the expression in
// errors.
func checkExpr(t *testing.T, where, expr string, names map[string][]string) {
	t.Helper()
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	refs := metricRE.FindAllStringSubmatch(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: names no metric of the service: %q", where, expr)
	}
	available := map[string]bool{"instance": true, "job": true}
	for _, m := range refs {
		labels, ok := names[m[1]]
		if !ok {
			t.Errorf("%s: metric %s does not exist in package metrics", where, m[1])
			continue
		}
		for _, l := range labels {
			available[l] = true
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(labels, lm[1]) && lm[1] != "job" && lm[1] != "instance" {
				t.Errorf("%s: %s has no label %s (labels %v)", where, m[1], lm[1], labels)
			}
		}
	}
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !available[l] {
				t.Errorf("%s: groups by %s, a label none of its metrics has", where, l)
			}
		}
	}
}

// TestAlertRulesCoverIssue checks the alerts issue 6 asks for are there,
// on the right metric, threshold and duration.
func TestAlertRulesCoverIssue(t *testing.T) {
	byName := map[string]rule{}
	for _, r := range loadRules(t) {
		byName[r.Alert] = r
	}
	tests := []struct {
		alert, forDur string
		exprHas       []string
	}{
		{"ThebuttonPressLatencyHigh", "5m", []string{"histogram_quantile(0.95", "thebutton_press_duration_seconds_bucket", "> 0.2"}},
		{"ThebuttonProjectorLagging", "2m", []string{"thebutton_projector_lag_seconds", "> 10"}},
		{"ThebuttonDeadLetter", "0m", []string{"increase(thebutton_dead_letters_total", "> 0"}},
		{"ThebuttonRedisDown", "1m", []string{`thebutton_sink_up{sink="redis"}`, "== 0"}},
		{"ThebuttonMySQLDown", "1m", []string{`thebutton_sink_up{sink="mysql"}`, "== 0"}},
		{"ThebuttonDiscordDisconnected", "5m", []string{"thebutton_discord_connected", "== 0"}},
		{"ThebuttonDiscordRateLimited", "0m", []string{"increase(thebutton_discord_rate_limited_total[5m])", "> 0"}},
		{"ThebuttonNATSDisconnected", "1m", []string{"thebutton_nats_connected", "== 0"}},
		{"ThebuttonDown", "1m", []string{`up{job="thebutton"}`, "== 0"}},
		// Issue 9: the effects backlog.
		{"ThebuttonDiscordEffectsBehind", "2m", []string{"thebutton_discord_effect_oldest_seconds", "> 30", "> 600"}},
	}
	var want []string
	for _, tt := range tests {
		want = append(want, tt.alert)
		r, ok := byName[tt.alert]
		if !ok {
			continue
		}
		if r.For != tt.forDur {
			t.Errorf("%s: for %s, want %s", tt.alert, r.For, tt.forDur)
		}
		expr := strings.Join(strings.Fields(r.Expr), " ")
		for _, s := range tt.exprHas {
			if !strings.Contains(expr, s) {
				t.Errorf("%s: expr %q lacks %q", tt.alert, expr, s)
			}
		}
	}
	if diff := cmp.Diff(slices.Sorted(mapKeys(byName)), slices.Sorted(slices.Values(want))); diff != "" {
		t.Errorf("alerts (-have +want):\n%s", diff)
	}
}

// TestPrometheusConfig checks the scrape configuration compose loads.
func TestPrometheusConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global        map[string]string `yaml:"global"`
		RuleFiles     []string          `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if diff := cmp.Diff([]string{"alerts.yml"}, cfg.RuleFiles); diff != "" {
		t.Errorf("rule_files (-want +got):\n%s", diff)
	}
	c, _ := loadCompose(t)
	jobs := map[string][]string{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			for _, target := range s.Targets {
				host, port, _ := strings.Cut(target, ":")
				if _, ok := c.Services[host]; !ok || port != "8080" {
					t.Errorf("job %s: target %s is not port 8080 of a compose service", sc.JobName, target)
				}
				jobs[sc.JobName] = append(jobs[sc.JobName], host)
			}
		}
	}
	want := map[string][]string{"thebutton": {"thebutton"}, "thebutton-cluster": {"thebutton-cluster", "thebutton-cluster-2"}}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("scrape jobs → targets (-want +got):\n%s", diff)
	}
}

// TestPromtool checks the rules with Prometheus's own tool and runs their
// unit tests (alerts_test.yml). It needs promtool (on PATH, or
// PROMTOOL=/path/to/promtool): skipped without it, failing under CI=true.
func TestPromtool(t *testing.T) {
	bin := os.Getenv("PROMTOOL")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("promtool"); err != nil {
			msg := "NO PROMTOOL: install promtool (Debian package prometheus) or set PROMTOOL " +
				"to run `promtool check rules`, `check config` and `test rules` on deploy/prometheus"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + " (CI=true: required)")
			}
			t.Skip("SKIPPED, " + msg + " (under CI=true this fails)")
		}
	}
	dir := filepath.Join(root, "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
