package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// testFlags is a command's flags, each with an environment variable.
type testFlags struct {
	count int
	wait  time.Duration
	on    bool
	name  string
}

func newTestFlags() (*flag.FlagSet, *testFlags) {
	var f testFlags
	fs := NewFlagSet(io.Discard, "test", "test [flags]")
	fs.IntVar(&f.count, "count", 1, "how many [TEST_COUNT]")
	fs.DurationVar(&f.wait, "wait", time.Second, "how long [TEST_WAIT]")
	fs.BoolVar(&f.on, "on", false, "whether [TEST_ON]")
	fs.StringVar(&f.name, "name", "default", "what [TEST_NAME]")
	return fs, &f
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Several unparsable environment variables and a check's problem come
// back in one error naming each; none falls back to its default silently.
func TestParseReportsEveryBadValueAtOnce(t *testing.T) {
	fs, f := newTestFlags()
	var checked testFlags
	err := Parse(fs, nil, env(map[string]string{"TEST_COUNT": "three", "TEST_WAIT": "soon", "TEST_ON": "maybe"}),
		func() error { checked = *f; return errors.New("the check's problem") })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`TEST_COUNT: "three"`, `TEST_WAIT: "soon"`, `TEST_ON: "maybe"`, "the check's problem"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %s:\n%v", want, err)
		}
	}
	// The checks see the defaults, not what the flag package made of
	// the bad values, so they report nothing twice.
	if want := (testFlags{count: 1, wait: time.Second, name: "default"}); checked != want {
		t.Errorf("checks saw %+v, want the defaults %+v", checked, want)
	}
}

// The command line comes first, then the environment, then the default;
// an empty variable counts as unset.
func TestParsePrecedence(t *testing.T) {
	fs, f := newTestFlags()
	err := Parse(fs, []string{"--count", "5"}, env(map[string]string{
		"TEST_COUNT": "not read: the command line sets it", "TEST_WAIT": "2m", "TEST_ON": "true", "TEST_NAME": ""}))
	if err != nil {
		t.Fatal(err)
	}
	want := testFlags{count: 5, wait: 2 * time.Minute, on: true, name: "default"}
	if *f != want {
		t.Errorf("flags %+v, want %+v", *f, want)
	}
}

func TestParseUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"stray"}, {"--count", "x"}} {
		fs, _ := newTestFlags()
		if err := Parse(fs, args, env(nil)); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want ErrUsage", args, err)
		}
	}
	fs, _ := newTestFlags()
	if err := Parse(fs, []string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"NATS server URL [NATS_URL]":        "NATS_URL",
		"Redis URL [REDIS_URL]":             "REDIS_URL",
		"no variable":                       "",
		"a list [redis, mysql] in the text": "",
		"lower case [nats_url]":             "",
		"empty []":                          "",
	}
	for usage, want := range tests {
		if got := EnvName(usage); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", usage, got, want)
		}
	}
}
