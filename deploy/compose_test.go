package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// root is the repository root, seen from this package's folder.
const root = ".."

// compose is the part of the Compose specification compose.yaml uses.
// Decoding with known fields only makes a misspelt key fail the tests.
type compose struct {
	Name     string              `yaml:"name"`
	Services map[string]service  `yaml:"services"`
	Volumes  map[string]struct{} `yaml:"volumes"`
}

type service struct {
	Image           string               `yaml:"image"`
	Build           string               `yaml:"build"`
	Profiles        []string             `yaml:"profiles"`
	Command         []string             `yaml:"command"`
	Environment     map[string]string    `yaml:"environment"`
	Ports           []string             `yaml:"ports"`
	Volumes         []string             `yaml:"volumes"`
	Healthcheck     *healthcheck         `yaml:"healthcheck"`
	DependsOn       yaml.Node            `yaml:"depends_on"`
	Restart         string               `yaml:"restart"`
	StopGracePeriod string               `yaml:"stop_grace_period"`
	Extra           map[string]yaml.Node `yaml:",inline"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// dependsOn returns the service's dependencies and their conditions
// ("" for the short list form).
func (s service) dependsOn(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		var names []string
		if err := s.DependsOn.Decode(&names); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			out[n] = ""
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := s.DependsOn.Decode(&m); err != nil {
			t.Fatal(err)
		}
		for n, c := range m {
			out[n] = c.Condition
		}
	default:
		t.Fatalf("depends_on: unexpected YAML kind %v", s.DependsOn.Kind)
	}
	return out
}

// loadCompose parses compose.yaml twice: as a node tree (for the
// variables) and as a compose struct whose strings have their defaults
// interpolated, as docker compose does without a .env file.
func loadCompose(t *testing.T) (compose, *yaml.Node) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	interpolated := interpolateTree(t, raw)
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(interpolated))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for name, s := range c.Services {
		if len(s.Extra) > 0 {
			t.Errorf("service %s: keys this test does not know: %v", name, slices.Sorted(mapKeys(s.Extra)))
		}
	}
	return c, &doc
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// varRef is one ${NAME...} of compose.yaml.
type varRef struct {
	Name, Default string
	HasDefault    bool
}

var (
	refRE  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)((:?-)([^}]*))?\}`)
	bareRE = regexp.MustCompile(`\$[A-Za-z_{]`)
)

// interpolate replaces each ${NAME}, ${NAME:-default} and ${NAME-default}
// of s by its default ("" without one) and returns what it found. Any
// other use of $ (a bare $NAME, ${NAME:?err}, nesting) is an error: the
// tests would not see those variables.
func interpolate(s string) (string, []varRef, error) {
	var refs []varRef
	out := refRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := refRE.FindStringSubmatch(m)
		r := varRef{Name: sm[1], Default: sm[4], HasDefault: sm[3] != ""}
		refs = append(refs, r)
		return r.Default
	})
	rest := strings.ReplaceAll(refRE.ReplaceAllString(s, ""), "$$", "")
	if bareRE.MatchString(rest) {
		return "", nil, fmt.Errorf("%q: a $ form other than ${NAME} or ${NAME:-default}", s)
	}
	return strings.ReplaceAll(out, "$$", "$"), refs, nil
}

// composeRefs returns every variable compose.yaml interpolates, by name.
func composeRefs(t *testing.T, doc *yaml.Node) map[string][]varRef {
	t.Helper()
	refs := map[string][]varRef{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			_, rs, err := interpolate(n.Value)
			if err != nil {
				t.Errorf("compose.yaml line %d: %v", n.Line, err)
			}
			for _, r := range rs {
				refs[r.Name] = append(refs[r.Name], r)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return refs
}

// interpolateTree returns the document raw with every scalar value
// interpolated with its defaults.
func interpolateTree(t *testing.T, raw []byte) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			v, _, err := interpolate(n.Value)
			if err != nil {
				t.Errorf("compose.yaml line %d: %v", n.Line, err)
			}
			n.Value = v
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestComposeServices(t *testing.T) {
	c, _ := loadCompose(t)
	type want struct {
		profiles    string
		image       string // prefix
		build       bool
		healthcheck bool
		ports       []string // container ports published
	}
	wants := map[string]want{
		"nats":                {"", "nats:2.", false, true, []string{"4222", "8222"}},
		"redis":               {"", "redis:7", false, true, []string{"6379"}},
		"mysql":               {"", "mariadb:10.11", false, true, []string{"3306"}},
		"thebutton":           {"", "thebutton:", true, false, []string{"8080"}},
		"prometheus":          {"monitoring", "prom/prometheus:", false, false, []string{"9090"}},
		"nats-1":              {"cluster", "nats:2.", false, true, []string{"4222", "8222"}},
		"nats-2":              {"cluster", "nats:2.", false, true, nil},
		"nats-3":              {"cluster", "nats:2.", false, true, nil},
		"thebutton-cluster":   {"cluster", "thebutton:", true, false, []string{"8080"}},
		"thebutton-cluster-2": {"cluster", "thebutton:", true, false, []string{"8080"}},
		"grafana":             {"monitoring", "grafana/grafana:", false, false, []string{"3000"}},
		"redis-cluster-init":  {"cluster", "redis:7", false, false, nil},
	}
	for i := 1; i <= 6; i++ {
		wants[fmt.Sprintf("redis-c%d", i)] = want{"cluster", "redis:7", false, true, nil}
	}
	if diff := cmp.Diff(slices.Sorted(mapKeys(wants)), slices.Sorted(mapKeys(c.Services))); diff != "" {
		t.Fatalf("services (-want +got):\n%s", diff)
	}
	hostPorts := map[string]string{} // published host port → service
	for name, w := range wants {
		s := c.Services[name]
		if got := strings.Join(s.Profiles, ","); got != w.profiles {
			t.Errorf("%s: profiles %q, want %q", name, got, w.profiles)
		}
		if !strings.HasPrefix(s.Image, w.image) {
			t.Errorf("%s: image %q, want %s…", name, s.Image, w.image)
		}
		if w.build != (s.Build == ".") {
			t.Errorf("%s: build %q, want built from the repository: %v", name, s.Build, w.build)
		}
		if w.healthcheck {
			h := s.Healthcheck
			if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" || h.Interval == "" || h.Retries == 0 {
				t.Errorf("%s: healthcheck %+v, want an exec-form CMD test with interval and retries", name, h)
			}
		}
		// A one-shot job runs once per start of the stack; everything
		// else comes back after a crash or a reboot.
		wantRestart := "unless-stopped"
		if name == "redis-cluster-init" {
			wantRestart = "no"
		}
		if s.Restart != wantRestart {
			t.Errorf("%s: restart %q, want %s", name, s.Restart, wantRestart)
		}
		var published []string
		for _, p := range s.Ports {
			ip, host, ctr, err := parsePort(p)
			if err != nil {
				t.Errorf("%s: port %q: %v", name, p, err)
				continue
			}
			published = append(published, ctr)
			if other, dup := hostPorts[host]; dup {
				t.Errorf("%s: host port %s is also published by %s", name, host, other)
			}
			hostPorts[host] = name
			// Only the web pages are public: NATS, Redis, MariaDB and
			// Prometheus have no authentication in this stack.
			if public := strings.HasPrefix(name, "thebutton"); !public && ip != "127.0.0.1" {
				t.Errorf("%s: port %q is published on every interface, want 127.0.0.1", name, p)
			}
		}
		if diff := cmp.Diff(w.ports, published); diff != "" {
			t.Errorf("%s: container ports published (-want +got):\n%s", name, diff)
		}
	}
}

// parsePort splits a short-syntax port mapping [ip:]host:container.
func parsePort(p string) (ip, host, container string, err error) {
	parts := strings.Split(p, ":")
	switch len(parts) {
	case 2:
		host, container = parts[0], parts[1]
	case 3:
		ip, host, container = parts[0], parts[1], parts[2]
		if net.ParseIP(ip) == nil {
			return "", "", "", fmt.Errorf("%q is not an IP address", ip)
		}
	default:
		return "", "", "", fmt.Errorf("not [ip:]host:container")
	}
	for _, n := range []string{host, container} {
		if v, err := strconv.Atoi(n); err != nil || v < 1 || v > 65535 {
			return "", "", "", fmt.Errorf("%q is not a port", n)
		}
	}
	return ip, host, container, nil
}

func TestComposeVolumesAndMounts(t *testing.T) {
	c, _ := loadCompose(t)
	used := map[string]bool{}
	mounts := map[string]map[string]string{} // service → target → source
	for name, s := range c.Services {
		mounts[name] = map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || len(parts) > 3 {
				t.Errorf("%s: volume %q is not source:target[:mode]", name, v)
				continue
			}
			src, dst := parts[0], parts[1]
			mounts[name][dst] = src
			if len(parts) == 3 && parts[2] != "ro" {
				t.Errorf("%s: volume %q: mode %q, want ro or none", name, v, parts[2])
			}
			if strings.HasPrefix(src, "./") {
				// A bind mount of a file of this repository, read-only.
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s: bind mount %q: %v", name, v, err)
				}
				if len(parts) != 3 {
					t.Errorf("%s: bind mount %q is writable, want :ro", name, v)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: named volume %q is not declared under volumes", name, src)
			}
			used[src] = true
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}
	// Persistent state lives in named volumes.
	for svc, target := range map[string]string{
		"nats": "/data", "nats-1": "/data", "nats-2": "/data", "nats-3": "/data",
		"redis": "/data", "mysql": "/var/lib/mysql", "prometheus": "/prometheus", "grafana": "/var/lib/grafana",
		"redis-c1": "/data", "redis-c2": "/data", "redis-c3": "/data", "redis-c4": "/data", "redis-c5": "/data", "redis-c6": "/data",
	} {
		if src := mounts[svc][target]; src == "" || strings.HasPrefix(src, "./") {
			t.Errorf("%s: %s is not on a named volume (mounts %v)", svc, target, mounts[svc])
		}
	}
	// Each NATS node runs the configuration file of this repository meant
	// for it.
	for svc, file := range map[string]string{
		"nats": "nats.conf", "nats-1": "nats-1.conf", "nats-2": "nats-2.conf", "nats-3": "nats-3.conf",
	} {
		s := c.Services[svc]
		if diff := cmp.Diff([]string{"--config", "/etc/nats/thebutton.conf"}, s.Command); diff != "" {
			t.Errorf("%s: command (-want +got):\n%s", svc, diff)
		}
		if got, want := mounts[svc]["/etc/nats/thebutton.conf"], "./deploy/nats/"+file; got != want {
			t.Errorf("%s: /etc/nats/thebutton.conf is %q, want %q", svc, got, want)
		}
	}
	if got := mounts["mysql"]["/docker-entrypoint-initdb.d"]; got != "./deploy/mysql/initdb" {
		t.Errorf("mysql: /docker-entrypoint-initdb.d is %q, want ./deploy/mysql/initdb", got)
	}
	if got := mounts["prometheus"]["/etc/prometheus"]; got != "./deploy/prometheus" {
		t.Errorf("prometheus: /etc/prometheus is %q, want ./deploy/prometheus", got)
	}
	for target, src := range map[string]string{
		"/etc/grafana/provisioning":   "./deploy/grafana/provisioning",
		"/var/lib/grafana/dashboards": "./deploy/grafana/dashboards",
	} {
		if got := mounts["grafana"][target]; got != src {
			t.Errorf("grafana: %s is %q, want %s", target, got, src)
		}
	}
	if got := mounts["redis-cluster-init"]["/usr/local/bin/cluster-init.sh"]; got != "./deploy/redis/cluster-init.sh" {
		t.Errorf("redis-cluster-init: the script is %q, want ./deploy/redis/cluster-init.sh", got)
	}
	if !slices.Contains(c.Services["prometheus"].Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus: command %q does not load /etc/prometheus/prometheus.yml", c.Services["prometheus"].Command)
	}
}

func TestComposeDependencies(t *testing.T) {
	c, _ := loadCompose(t)
	want := map[string]map[string]string{
		"thebutton":           {"nats": "service_healthy", "redis": "service_healthy", "mysql": "service_healthy"},
		"thebutton-cluster":   clusterInstance,
		"thebutton-cluster-2": clusterInstance,
		"prometheus":          {"thebutton": ""},
		"grafana":             {"prometheus": ""},
		"redis-cluster-init":  {},
	}
	for i := 1; i <= 6; i++ {
		want["redis-cluster-init"][fmt.Sprintf("redis-c%d", i)] = "service_healthy"
	}
	for name, s := range c.Services {
		got := s.dependsOn(t)
		if diff := cmp.Diff(want[name], got, cmpEmptyMap); diff != "" {
			t.Errorf("%s: depends_on (-want +got):\n%s", name, diff)
		}
		for dep, cond := range got {
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
				continue
			}
			if cond == "service_healthy" && d.Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
			// A service of the default stack must not need a profile's.
			if len(s.Profiles) == 0 && len(d.Profiles) > 0 {
				t.Errorf("%s (no profile) depends on %s (profiles %v)", name, dep, d.Profiles)
			}
		}
	}
}

// clusterEnv is what each instance of the cluster profile is told.
var clusterEnv = map[string]string{
	"NATS_URL":           "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
	"NATS_STREAM":        "BUTTON",
	"NATS_REPLICAS":      "3",
	"REDIS_URL":          "redis+cluster://redis-c1:6379,redis-c2:6379,redis-c3:6379",
	"MYSQL_DSN":          "thebutton:thebutton@tcp(mysql:3306)/thebutton_cluster",
	"DISCORD_TOKEN":      "",
	"DISCORD_PUBLIC_KEY": "",
	"DISCORD_SHARDS":     "auto",
	"DISCORD_GUILD_ID":   "",
	"HTTP_ADDR":          "0.0.0.0:8080",
	"LOG_LEVEL":          "info",
	"LOG_FORMAT":         "json",
}

// clusterInstance is what each instance of the cluster profile waits for.
var clusterInstance = map[string]string{
	"nats-1": "service_healthy", "nats-2": "service_healthy", "nats-3": "service_healthy",
	"redis-cluster-init": "service_completed_successfully", "mysql": "service_healthy",
}

var cmpEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// TestComposeEnvironment checks what each thebutton instance is told: the
// variables cmd/thebutton reads, pointing at services of the same stack.
func TestComposeEnvironment(t *testing.T) {
	c, _ := loadCompose(t)
	want := map[string]map[string]string{
		"thebutton": {
			"NATS_URL":           "nats://nats:4222",
			"NATS_STREAM":        "BUTTON",
			"NATS_REPLICAS":      "1",
			"REDIS_URL":          "redis://redis:6379/0",
			"MYSQL_DSN":          "thebutton:thebutton@tcp(mysql:3306)/thebutton",
			"DISCORD_TOKEN":      "",
			"DISCORD_PUBLIC_KEY": "",
			"DISCORD_GUILD_ID":   "",
			"HTTP_ADDR":          "0.0.0.0:8080",
			"LOG_LEVEL":          "info",
			"LOG_FORMAT":         "json",
		},
		"thebutton-cluster":   clusterEnv,
		"thebutton-cluster-2": clusterEnv,
	}
	known := flagVariables(t)
	for name, env := range want {
		s := c.Services[name]
		if diff := cmp.Diff(env, s.Environment); diff != "" {
			t.Errorf("%s: environment with compose's defaults (-want +got):\n%s", name, diff)
		}
		for k := range s.Environment {
			if !known[k] {
				t.Errorf("%s: %s is not read by cmd/thebutton (known: %v)", name, k, slices.Sorted(mapKeys(known)))
			}
		}
		if diff := cmp.Diff([]string{"run"}, s.Command); diff != "" {
			t.Errorf("%s: command (-want +got):\n%s", name, diff)
		}
		// Every host named in a URL is a service thebutton waits for,
		// itself or through a service it waits for (the Redis Cluster's
		// nodes, through redis-cluster-init).
		deps := s.dependsOn(t)
		for d := range s.dependsOn(t) {
			for dd, cond := range c.Services[d].dependsOn(t) {
				deps[dd] = cond
			}
		}
		for _, u := range strings.Split(s.Environment["NATS_URL"], ",") {
			checkHost(t, name, "NATS_URL", u, "4222", deps)
		}
		redisURL := s.Environment["REDIS_URL"]
		if rest, ok := strings.CutPrefix(redisURL, "redis+cluster://"); ok {
			for _, node := range strings.Split(rest, ",") {
				checkHost(t, name, "REDIS_URL", "redis://"+node, "6379", deps)
			}
		} else {
			checkHost(t, name, "REDIS_URL", redisURL, "6379", deps)
		}
		dsnHost := regexp.MustCompile(`@tcp\(([^)]*)\)/`).FindStringSubmatch(s.Environment["MYSQL_DSN"])
		if dsnHost == nil {
			t.Errorf("%s: MYSQL_DSN %q has no @tcp(host:port)/", name, s.Environment["MYSQL_DSN"])
		} else {
			checkHost(t, name, "MYSQL_DSN", "tcp://"+dsnHost[1], "3306", deps)
		}
		if _, port, _ := net.SplitHostPort(s.Environment["HTTP_ADDR"]); port != "8080" {
			t.Errorf("%s: HTTP_ADDR %q does not listen on the published port 8080", name, s.Environment["HTTP_ADDR"])
		}
	}
	// The two instances run on different streams: their projections must
	// not share a Redis database or a MySQL database.
	a, b := c.Services["thebutton"].Environment, c.Services["thebutton-cluster"].Environment
	for _, k := range []string{"REDIS_URL", "MYSQL_DSN"} {
		if a[k] == b[k] {
			t.Errorf("both instances use %s %q", k, a[k])
		}
	}
	// The MySQL DSNs log in as the user the mariadb service creates, on
	// the databases it creates.
	m := c.Services["mysql"].Environment
	creds := m["MARIADB_USER"] + ":" + m["MARIADB_PASSWORD"] + "@tcp(mysql:3306)/"
	if got, want := a["MYSQL_DSN"], creds+m["MARIADB_DATABASE"]; got != want {
		t.Errorf("thebutton MYSQL_DSN %q, want %q from the mysql service's defaults", got, want)
	}
	if got, want := b["MYSQL_DSN"], creds+m["CLUSTER_MYSQL_DATABASE"]; got != want {
		t.Errorf("thebutton-cluster MYSQL_DSN %q, want %q from the mysql service's defaults", got, want)
	}
}

// checkHost checks that rawURL names a service of deps on port.
func checkHost(t *testing.T, svc, variable, rawURL, port string, deps map[string]string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Errorf("%s: %s %q: %v", svc, variable, rawURL, err)
		return
	}
	if _, ok := deps[u.Hostname()]; !ok {
		t.Errorf("%s: %s names host %q, which it does not depend on (%v)", svc, variable, u.Hostname(), deps)
	}
	if u.Port() != port {
		t.Errorf("%s: %s %q: port %q, want %s", svc, variable, rawURL, u.Port(), port)
	}
}

// flagVariables returns the environment variables cmd/thebutton reads:
// the quoted upper-case names passed to getenv, or right after getenv to a
// helper such as envDefault(getenv, "NAME", …), in its non-test files.
func flagVariables(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "cmd", "thebutton", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/thebutton: %v", err)
	}
	// A variable is read where a flag's help names it in brackets at its
	// end (internal/cli reads it from there: "… [NATS_URL]").
	re := regexp.MustCompile("\\[([A-Z][A-Z0-9_]*)\\][\"`]")
	known := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			known[m[1]] = true
		}
	}
	for _, v := range []string{"NATS_URL", "REDIS_URL", "MYSQL_DSN", "DISCORD_TOKEN", "HTTP_ADDR"} {
		if !known[v] {
			t.Fatalf("found no flag reading %s in cmd/thebutton: the pattern of this test is out of date (found %v)", v, known)
		}
	}
	return known
}

// envExample parses .env.example: NAME=value lines, each right below a
// comment line.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	prevComment := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch m := assign.FindStringSubmatch(line); {
		case m != nil:
			if !prevComment {
				t.Errorf(".env.example line %d: %s has no comment above it", n, m[1])
			}
			if _, dup := vars[m[1]]; dup {
				t.Errorf(".env.example line %d: %s set twice", n, m[1])
			}
			vars[m[1]] = m[2]
			prevComment = false
		case strings.HasPrefix(line, "#"):
			prevComment = true
		case strings.TrimSpace(line) == "":
			prevComment = false
		default:
			t.Errorf(".env.example line %d: %q is neither a comment nor NAME=value", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestEnvExample checks that .env.example documents exactly the variables
// compose.yaml uses, with compose's defaults as values.
func TestEnvExample(t *testing.T) {
	_, doc := loadCompose(t)
	refs := composeRefs(t, doc)
	vars := envExample(t)
	if diff := cmp.Diff(slices.Sorted(mapKeys(refs)), slices.Sorted(mapKeys(vars))); diff != "" {
		t.Errorf("variables of compose.yaml (-) and of .env.example (+):\n%s", diff)
	}
	for name, rs := range refs {
		for _, r := range rs {
			if !r.HasDefault {
				t.Errorf("compose.yaml: ${%s} has no default: compose warns and uses \"\" without a .env", name)
			}
			if v, ok := vars[name]; ok && r.Default != v {
				t.Errorf("${%s}: default %q in compose.yaml, %q in .env.example", name, r.Default, v)
			}
		}
	}
	// Secrets are empty or placeholders, never a real token.
	for _, k := range []string{"DISCORD_TOKEN", "CLUSTER_DISCORD_TOKEN"} {
		if v, ok := vars[k]; !ok || v != "" {
			t.Errorf(".env.example: %s=%q, want present and empty", k, v)
		}
	}
}

// TestNATSConfigs parses each NATS configuration with nats-server's own
// parser and checks it against the compose services that run it.
func TestNATSConfigs(t *testing.T) {
	c, _ := loadCompose(t)
	tests := []struct {
		file, server string
		cluster      bool
	}{
		{"nats.conf", "nats", false},
		{"nats-1.conf", "nats-1", true},
		{"nats-2.conf", "nats-2", true},
		{"nats-3.conf", "nats-3", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			o, err := server.ProcessConfigFile(filepath.Join(root, "deploy", "nats", tt.file))
			if err != nil {
				t.Fatalf("nats-server rejects %s: %v", tt.file, err)
			}
			type got struct {
				Name, StoreDir, Sync   string
				JetStream, SyncAlways  bool
				Port, HTTPPort, Routes int
				Cluster                string
				ClusterPort            int
			}
			g := got{
				Name: o.ServerName, StoreDir: o.StoreDir, Sync: o.SyncInterval.String(),
				JetStream: o.JetStream, SyncAlways: o.SyncAlways,
				Port: o.Port, HTTPPort: o.HTTPPort, Routes: len(o.Routes),
				Cluster: o.Cluster.Name, ClusterPort: o.Cluster.Port,
			}
			// The single node syncs every write (an acknowledged click
			// survives a power loss); the cluster's nodes sync every 2
			// minutes and rely on the majority of three for that.
			w := got{
				Name: tt.server, StoreDir: "/data", SyncAlways: true, Sync: "2m0s", JetStream: true,
				Port: 4222, HTTPPort: 8222,
			}
			if tt.cluster {
				w.SyncAlways = false
				w.Routes, w.Cluster, w.ClusterPort = 3, "thebutton", 6222
			}
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.file, diff)
			}
			for _, r := range o.Routes {
				s, ok := c.Services[r.Hostname()]
				if !ok || !slices.Contains(s.Profiles, "cluster") || r.Port() != "6222" {
					t.Errorf("%s: route %s is not port 6222 of a service of the cluster profile", tt.file, r)
				}
			}
		})
	}
}
