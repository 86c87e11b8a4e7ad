package deploy_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Line int
	Cmd  string // upper case
	Args string
}

// stage is one FROM … of a multi-stage Dockerfile.
type stage struct {
	Image, Name string
	Ins         []instruction
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			s := stage{Image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile line %d: %s before FROM", start, in.Cmd)
		}
		stages[len(stages)-1].Ins = append(stages[len(stages)-1].Ins, in)
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			start = n
		} else if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return stages
}

// args returns the instructions cmd of s.
func (s stage) args(cmd string) []string {
	var out []string
	for _, in := range s.Ins {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, runtime)", len(stages))
	}
	build, run := stages[0], stages[1]

	// Builder: the Go of go.mod, static binary of ./cmd/thebutton.
	m := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.\d+)?(?:-[a-z0-9]+)?$`).FindStringSubmatch(build.Image)
	if m == nil || build.Name == "" {
		t.Fatalf("first stage FROM %s AS %s, want a named golang:X.Y[-variant] builder", build.Image, build.Name)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gov := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(mod))
	if gov == nil || gov[1] != m[1] || gov[2] != m[2] {
		t.Errorf("builder %s does not match go.mod's go %v", build.Image, gov)
	}
	all := strings.Join(append(build.args("ENV"), build.args("RUN")...), "\n")
	if !regexp.MustCompile(`\bCGO_ENABLED=0\b`).MatchString(all) {
		t.Errorf("the builder does not set CGO_ENABLED=0:\n%s", all)
	}
	goBuild := regexp.MustCompile(`\bgo build\b[^&;]*-o (\S+) \./cmd/thebutton\b`).FindStringSubmatch(all)
	if goBuild == nil {
		t.Fatalf("no `go build … -o BIN ./cmd/thebutton` in the builder:\n%s", all)
	}
	if !slices.ContainsFunc(build.args("COPY"), func(a string) bool { return strings.HasPrefix(a, "go.mod go.sum") }) {
		t.Error("the builder does not copy go.mod and go.sum first (module download layer)")
	}

	// Runtime: small, non-root, the binary on PATH.
	if !strings.HasPrefix(run.Image, "gcr.io/distroless/static") && !regexp.MustCompile(`^debian:[a-z]+-slim$`).MatchString(run.Image) {
		t.Errorf("runtime image %s, want gcr.io/distroless/static… or debian:…-slim", run.Image)
	}
	wantCopy := "--from=" + build.Name + " " + goBuild[1] + " /usr/local/bin/thebutton"
	if !slices.Contains(run.args("COPY"), wantCopy) {
		t.Errorf("runtime COPY %q missing; have %q", wantCopy, run.args("COPY"))
	}
	for _, c := range run.args("COPY") {
		if from := regexp.MustCompile(`--from=(\S+)`).FindStringSubmatch(c); from != nil && from[1] != build.Name {
			t.Errorf("COPY %s: no stage %s", c, from[1])
		}
	}
	users := run.args("USER")
	if len(users) == 0 {
		t.Error("no USER in the runtime stage: it would run as root")
	} else {
		user, _, _ := strings.Cut(users[len(users)-1], ":")
		if user == "root" || user == "0" {
			t.Errorf("runtime USER %s is root", users[len(users)-1])
		}
	}
	var exposed []string
	for _, e := range run.args("EXPOSE") {
		exposed = append(exposed, strings.Fields(e)...)
	}
	if diff := cmp.Diff([]string{"8080", "4333"}, exposed); diff != "" {
		t.Errorf("EXPOSE (-want +got):\n%s", diff)
	}
	for cmd, want := range map[string][]string{"ENTRYPOINT": {"thebutton"}, "CMD": {"run"}} {
		got := run.args(cmd)
		if len(got) != 1 {
			t.Errorf("%d %s instructions, want 1", len(got), cmd)
			continue
		}
		var exec []string
		if err := json.Unmarshal([]byte(got[0]), &exec); err != nil {
			t.Errorf("%s %s is not the exec (JSON) form: %v", cmd, got[0], err)
		}
		if diff := cmp.Diff(want, exec); diff != "" {
			t.Errorf("%s (-want +got):\n%s", cmd, diff)
		}
	}
	// The container listens where compose publishes.
	env := strings.Join(run.args("ENV"), " ")
	for _, kv := range []string{"HTTP_ADDR=0.0.0.0:8080", "NATS_LISTEN=0.0.0.0:4333"} {
		if !strings.Contains(" "+env+" ", " "+kv+" ") {
			t.Errorf("runtime ENV lacks %s: %s", kv, env)
		}
	}
}

// dockerignore returns the patterns of .dockerignore in order; a leading
// "!" re-includes.
func dockerignore(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		pats = append(pats, l)
	}
	return pats
}

// ignored reports whether the build context leaves out path (slash
// separated, relative to the root), as Docker reads .dockerignore: patterns
// are anchored at the root, "*" and "?" stay within a folder, "**" spans
// folders, a pattern matching a folder leaves out what is below it, and
// the last matching pattern wins ("!" re-includes).
func ignored(t *testing.T, pats []string, path string) bool {
	t.Helper()
	out := false
	parts := strings.Split(path, "/")
	for _, p := range pats {
		neg := strings.HasPrefix(p, "!")
		re := patternRE(t, strings.Trim(strings.TrimPrefix(p, "!"), "/"))
		for i := 1; i <= len(parts); i++ {
			if re.MatchString(strings.Join(parts[:i], "/")) {
				out = !neg
				break
			}
		}
	}
	return out
}

// patternRE turns a .dockerignore pattern into a regular expression.
func patternRE(t *testing.T, p string) *regexp.Regexp {
	t.Helper()
	if strings.ContainsAny(p, "[\\") {
		t.Fatalf(".dockerignore: %q: character classes and escapes are not supported by this test", p)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// TestDockerignore checks that the build context holds every file
// `go build ./cmd/thebutton` reads: go.mod, go.sum and, for each package of
// this module it builds, its Go, embedded and other source files.
func TestDockerignore(t *testing.T) {
	pats := dockerignore(t)
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=Dir,Module,GoFiles,CgoFiles,EmbedFiles,OtherFiles,SFiles,Error", "./cmd/thebutton")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	pkgs := 0
	for dec.More() {
		var p struct {
			Dir                                               string
			Module                                            *struct{ Path string }
			GoFiles, CgoFiles, EmbedFiles, OtherFiles, SFiles []string
			Error                                             *struct{ Err string }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/thebutton-game/thebutton" {
			continue
		}
		if p.Error != nil {
			t.Logf("go list reports %s: %s (other work in progress?)", p.Dir, p.Error.Err)
		}
		pkgs++
		rel, err := filepath.Rel(absRoot, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.EmbedFiles, p.OtherFiles, p.SFiles} {
			for _, f := range list {
				need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if pkgs < 3 {
		t.Fatalf("go list found %d packages of this module under ./cmd/thebutton; want several", pkgs)
	}
	for _, f := range need {
		if ignored(t, pats, f) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", f)
		}
	}
	// And it keeps secrets and local state out of the context.
	for _, f := range []string{".env", ".git/config", "data/nats/x", "cmd/thebutton/thebutton.test"} {
		if !ignored(t, pats, f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
	if ignored(t, pats, ".env.example") {
		t.Error(".dockerignore leaves out .env.example")
	}
}

// TestIgnoredMatcher pins the .dockerignore reading the test above relies on.
func TestIgnoredMatcher(t *testing.T) {
	pats := []string{".git", "data/", "**/*.test", "*.out", ".env.*", "!.env.example"}
	tests := []struct {
		path string
		want bool
	}{
		{".git/HEAD", true},
		{"data/nats/jetstream", true},
		{"cmd/data/x.go", false},
		{"a/b.test", true},
		{"b.test", true},
		{"x.out", true},
		{"a/x.out", false}, // Docker anchors patterns at the root
		{".env.local", true},
		{".env.example", false},
		{"go.mod", false},
	}
	for _, tt := range tests {
		if got := ignored(t, pats, tt.path); got != tt.want {
			t.Errorf("ignored(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
