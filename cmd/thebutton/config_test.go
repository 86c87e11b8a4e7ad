package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Environment variables that do not parse are reported, all of them with
// the other problems, instead of falling back to their defaults.
func TestConfigBadValuesAllAtOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"run"}, &stdout, &stderr, env(map[string]string{
		"NATS_REPLICAS": "three", "PROJECTOR_LEASE_TTL": "soon", "LEGACY_TEXT_COMMANDS": "maybe", "LOG_LEVEL": "loud",
	}))
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{`NATS_REPLICAS: "three"`, `PROJECTOR_LEASE_TTL: "soon"`, `LEGACY_TEXT_COMMANDS: "maybe"`, "LOG_LEVEL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not report %s:\n%s", want, stderr.String())
		}
	}
}

// Every command is in the table once, in the order help lists them.
func TestSubcommandsTable(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for _, c := range subcommands() {
		if seen[c.name] || c.name < prev || c.run == nil || c.summary == "" {
			t.Errorf("subcommand %q: repeated, out of order or incomplete", c.name)
		}
		seen[c.name], prev = true, c.name
	}
	for _, name := range []string{"bench", "demo", "import-legacy", "migrate", "project", "render", "replay", "run", "status", "verify"} {
		if !seen[name] {
			t.Errorf("no subcommand %q", name)
		}
	}
}
