package compose

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGoServiceDockerfilesCopyTheirPackages: each Go service's Dockerfile
// copies the repository packages it builds from (all of internal/ and its
// own service directory), so an import of another service's package must
// come with a COPY line. Without this test the
// miss shows only when compose builds the image, deep in the e2e suite
// (the events image once failed every e2e env that way).
func TestGoServiceDockerfilesCopyTheirPackages(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	const module = "github.com/esb-dev/esb/"
	for _, svc := range []string{"gateway", "agent", "provisioner", "events"} {
		dockerfile := filepath.Join(root, "services", svc, "Dockerfile")
		data, err := os.ReadFile(dockerfile)
		require.NoError(t, err)
		var copied []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--") {
				copied = append(copied, strings.TrimSuffix(f[1], "/"))
			}
		}
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./services/"+svc+"/...")
		cmd.Dir = root
		out, err := cmd.Output()
		require.NoError(t, err, "go list %s", svc)
		for _, pkg := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(pkg, module)
			if !ok {
				continue
			}
			found := false
			for _, c := range copied {
				if c == "." || rel == c || strings.HasPrefix(rel, c+"/") {
					found = true
					break
				}
			}
			require.True(t, found, "services/%s/Dockerfile does not copy %s, which %s imports: add `COPY %s/ %s/`", svc, rel, svc, rel, rel)
		}
	}
}
