package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/metrics"
)

// Issue 14: a store down since the process started must fire its alert.
// The series comes from the metrics package as `run` wires it (RunProbes
// with MySQL not answering: its check hangs until its timeout), scraped
// at once, before any check has finished; that value, held for 5 minutes,
// is fed to promtool with alerts.yml, and ThebuttonMySQLDown must fire.
func TestMySQLDownSinceStartFires(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = m.RunProbes(ctx, nil, 2*time.Second,
			metrics.Probe{Sink: metrics.SinkRedis, Check: func(context.Context) error { return nil }},
			metrics.Probe{Sink: metrics.SinkMySQL, Check: func(ctx context.Context) error {
				once.Do(func() { close(started) })
				<-ctx.Done() // MySQL does not answer
				return errors.New("i/o timeout")
			}})
	})
	defer func() { cancel(); wg.Wait() }()
	<-started // the first round runs: nothing has answered for MySQL yet

	rec := httptest.NewRecorder()
	metrics.Handler(m, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	scrape := rec.Body.String()
	match := regexp.MustCompile(`(?m)^thebutton_sink_up\{sink="mysql"\} (\S+)$`).FindStringSubmatch(scrape)
	if match == nil {
		t.Fatalf("the first scrape has no thebutton_sink_up{sink=\"mysql\"}:\n%s", scrape)
	}
	if match[1] != "0" {
		t.Fatalf("first scrape: thebutton_sink_up{sink=\"mysql\"} %s, want 0", match[1])
	}

	bin := os.Getenv("PROMTOOL")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("promtool"); err != nil {
			msg := "NO PROMTOOL: install promtool (Debian package prometheus) or set PROMTOOL"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + " (CI=true: required)")
			}
			t.Skip("SKIPPED, " + msg + " (under CI=true this fails)")
		}
	}
	rules, err := filepath.Abs(filepath.Join(root, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	test := fmt.Sprintf(`rule_files:
  - %s
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'thebutton_sink_up{sink="mysql",instance="a:8080",job="thebutton"}'
        values: '%sx5'
    alert_rule_test:
      - eval_time: 0m
        alertname: ThebuttonMySQLDown
        exp_alerts: []
      - eval_time: 2m
        alertname: ThebuttonMySQLDown
        exp_alerts:
          - exp_labels:
              severity: critical
              sink: mysql
              instance: a:8080
              job: thebutton
            exp_annotations:
              summary: MySQL unreachable
              description: "a:8080 has failed to reach MySQL for a minute: the history projection falls behind (it catches up from the stream when MySQL is back)."
`, rules, match[1])
	file := filepath.Join(t.TempDir(), "down_since_start_test.yml")
	if err := os.WriteFile(file, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "test", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules (MySQL down since start): %v\n%s", err, out)
	}
}
