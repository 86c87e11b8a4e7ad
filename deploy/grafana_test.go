package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *datasourceRef     `json:"datasource"`
	Targets    []panelTarget      `json:"targets"`
	GridPos    struct{ W, H int } `json:"gridPos"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panelTarget struct {
	Datasource *datasourceRef `json:"datasource"`
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
}

// TestGrafanaDashboard checks the provisioned dashboard: it queries the
// provisioned Prometheus data source, and every expression of every panel
// names metrics and labels the service exports.
func TestGrafanaDashboard(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string `yaml:"name"`
			UID       string `yaml:"uid"`
			Type      string `yaml:"type"`
			Access    string `yaml:"access"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
			Editable  bool   `yaml:"editable"`
		} `yaml:"datasources"`
	}
	decodeYAML(t, filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("data sources %+v, want the compose service prometheus on port 9090", ds.Datasources)
	}
	uid := ds.Datasources[0].UID

	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name            string            `yaml:"name"`
			Folder          string            `yaml:"folder"`
			Type            string            `yaml:"type"`
			DisableDeletion bool              `yaml:"disableDeletion"`
			AllowUIUpdates  bool              `yaml:"allowUiUpdates"`
			Options         map[string]string `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAML(t, filepath.Join(root, "deploy", "grafana", "provisioning", "dashboards", "thebutton.yml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Options["path"] != "/var/lib/grafana/dashboards" {
		t.Fatalf("dashboard providers %+v, want one reading /var/lib/grafana/dashboards", prov.Providers)
	}

	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "thebutton.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("thebutton.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", d.UID, d.Title)
	}
	names := exported(t)
	ids := map[int]bool{}
	queried := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %d: title %q, size %dx%d: want a title and a size", p.ID, p.Title, p.GridPos.W, p.GridPos.H)
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: data source %+v, want uid %q", p.Title, p.Datasource, uid)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Datasource == nil || q.Datasource.UID != uid {
				t.Errorf("panel %q query %s: data source %+v, want uid %q", p.Title, q.RefID, q.Datasource, uid)
			}
			checkExpr(t, "panel "+p.Title, q.Expr, names)
			for _, m := range metricRE.FindAllStringSubmatch(q.Expr, -1) {
				queried[m[1]] = true
			}
		}
	}
	// Every gauge and counter family an operator would look for is on it.
	for _, m := range []string{
		"up", "thebutton_presses_total", "thebutton_press_duration_seconds_bucket", "thebutton_append_conflicts_total",
		"thebutton_projector_lag_seconds", "thebutton_projector_lag_events", "thebutton_dead_letters_total",
		"thebutton_discord_requests_total", "thebutton_discord_rate_limited_total", "thebutton_sink_up",
		"thebutton_nats_connected", "thebutton_discord_connected", "thebutton_discord_effects_pending",
	} {
		if !queried[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
