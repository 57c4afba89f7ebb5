package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/platform"
)

func TestHealthFromStatus(t *testing.T) {
	for in, want := range map[string]string{
		"Up 3 minutes (healthy)":         "healthy",
		"Up 1 second (health: starting)": "starting",
		"Up 2 hours (unhealthy)":         "unhealthy",
		"Up 5 minutes":                   "",
		"Exited (1) 2 minutes ago":       "",
	} {
		assert.Equal(t, want, healthFromStatus(in), in)
	}
}

func TestFindDir(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "compose"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "compose", "docker-compose.infra.yml"), []byte("services: {}\n"), 0o644))
	deep := filepath.Join(root, "fixtures", "app")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	elsewhere := t.TempDir()

	got, err := FindDir("", elsewhere, deep)
	require.NoError(t, err)
	assert.Equal(t, root, got)

	got, err = FindDir(root)
	require.NoError(t, err)
	assert.Equal(t, root, got)

	_, err = FindDir(elsewhere)
	assert.ErrorContains(t, err, "has no compose/docker-compose.infra.yml")
	_, err = FindDir("", elsewhere)
	assert.ErrorContains(t, err, "ESB_PROJECT_DIR")
}

func TestCommand(t *testing.T) {
	e, err := platform.New("", "dev")
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{Home: "/h"}})
	require.NoError(t, err)
	p := Project{Dir: "/repo", Mode: "docker", Layout: l, Environ: []string{"PATH=/bin"}}
	cmd := p.Command(t.Context(), "run", "--rm", "provisioner")
	assert.Equal(t, []string{"docker", "compose",
		"-f", "/repo/compose/docker-compose.infra.yml", "-f", "/repo/compose/docker-compose.docker.yml",
		"run", "--rm", "provisioner"}, cmd.Args)
	assert.Contains(t, cmd.Env, "PATH=/bin")
	assert.Contains(t, cmd.Env, "COMPOSE_PROJECT_NAME=esb-dev")
	assert.Contains(t, cmd.Env, "CONFIG_DIR=/h/.esb/.cache/staging/esb-dev-7a9f2a81/dev/config")

	assert.NoError(t, CheckMode("containerd"))
	assert.EqualError(t, CheckMode("k8s"), `mode "k8s": want docker, containerd or kubernetes`)
}

func TestSourceTag(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "internal/a/a.go", "services/gateway/main.go", "services/events/main.go", "services/agent/main.go", "services/provisioner/main.go", "services/runtime-node/Dockerfile", "services/nodekeeper/main.go", "docs/x.md"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(p), 0o644))
	}
	first, err := SourceTag(root)
	require.NoError(t, err)
	assert.Regexp(t, `^src-[0-9a-f]{12}$`, first)

	// Files outside the service sources do not change the tag.
	require.NoError(t, os.WriteFile(filepath.Join(root, "docs/x.md"), []byte("changed"), 0o644))
	same, err := SourceTag(root)
	require.NoError(t, err)
	assert.Equal(t, first, same)

	require.NoError(t, os.WriteFile(filepath.Join(root, "internal/a/a.go"), []byte("changed"), 0o644))
	changed, err := SourceTag(root)
	require.NoError(t, err)
	assert.NotEqual(t, first, changed)
}

// TestImageTag: a checkout's tag is its SourceTag; a site installed from a
// platform bundle has no sources and names its tag in ImageTagFile.
func TestImageTag(t *testing.T) {
	checkout := t.TempDir()
	// Every source input exists (files as files, directories as directories),
	// taken from the list SourceTag reads so a new service cannot drift from it.
	for _, in := range sourceInputs() {
		p := filepath.Join(checkout, in)
		if strings.HasPrefix(in, "go.") {
			require.NoError(t, os.WriteFile(p, []byte(in), 0o644))
			continue
		}
		require.NoError(t, os.MkdirAll(p, 0o755))
	}
	want, err := SourceTag(checkout)
	require.NoError(t, err)
	got, err := ImageTag(checkout)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	site := t.TempDir()
	_, err = ImageTag(site)
	assert.Error(t, err, "neither sources nor a tag file")
	require.NoError(t, os.MkdirAll(filepath.Join(site, "compose"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(site, ImageTagFile), []byte("src-0123456789ab\n"), 0o644))
	got, err = ImageTag(site)
	require.NoError(t, err)
	assert.Equal(t, "src-0123456789ab", got)
	require.NoError(t, os.WriteFile(filepath.Join(site, ImageTagFile), []byte("bad tag;rm"), 0o644))
	_, err = ImageTag(site)
	assert.ErrorContains(t, err, "not a Docker tag")
}
