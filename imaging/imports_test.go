package imaging

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsStayPure keeps the package free of this module's other
// packages and of anything but the standard library, gg, x/image and
// gonum/plot (see the package doc).
func TestImportsStayPure(t *testing.T) {
	// timefmt is the one formatting of times for players; it imports the
	// standard library only (its own test checks that).
	allowed := []string{"github.com/fogleman/gg", "golang.org/x/image/", "gonum.org/v1/plot",
		"github.com/thebutton-game/thebutton/timefmt"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				if path == strings.TrimSuffix(a, "/") || strings.HasPrefix(path, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
