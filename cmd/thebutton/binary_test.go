package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The thebutton binary the process tests run (kill tests, the topology
// test), built once per run of the package's tests and removed by
// TestMain.
var testBinary struct {
	once      sync.Once
	dir, path string
	err       error
}

// sharedBinary builds thebutton once and returns its path. Safe for
// concurrent use: later callers wait for the first build.
func sharedBinary() (string, error) {
	testBinary.once.Do(func() {
		if testBinary.dir, testBinary.err = os.MkdirTemp("", "thebutton-bin-"); testBinary.err != nil {
			return
		}
		testBinary.path = filepath.Join(testBinary.dir, "thebutton")
		if out, err := exec.Command("go", "build", "-o", testBinary.path, ".").CombinedOutput(); err != nil {
			testBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return testBinary.path, testBinary.err
}

// buildBinary returns the thebutton binary, built on first use.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := sharedBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBinary.dir != "" {
		os.RemoveAll(testBinary.dir)
	}
	os.Exit(code)
}
