package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"dagger.io/dagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMirrorsPipArgs(t *testing.T) {
	tests := []struct {
		name string
		m    Mirrors
		args []string
		from string
	}{
		{name: "PyPI", m: Mirrors{}, args: nil, from: "PyPI (pip's default index)"},
		{name: "wheel directory alone never asks an index", m: Mirrors{WheelDir: "/srv/wheels", PipExtraIndexURLs: []string{"http://x/simple"}},
			args: []string{"--no-index", "--find-links", wheelMount}, from: "wheel directory /srv/wheels (no index)"},
		{name: "index and wheels", m: Mirrors{PipIndexURL: "http://mirror/simple", WheelDir: "/srv/wheels"},
			args: []string{"--index-url", "http://mirror/simple", "--find-links", wheelMount}, from: "index http://mirror/simple, wheel directory /srv/wheels"},
		{name: "index and extra", m: Mirrors{PipIndexURL: "http://mirror/simple", PipExtraIndexURLs: []string{"http://other/simple"}},
			args: []string{"--index-url", "http://mirror/simple", "--extra-index-url", "http://other/simple"}, from: "index http://mirror/simple, extra index http://other/simple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.args, tt.m.pipArgs())
			assert.Equal(t, tt.from, tt.m.PipSource())
		})
	}
	assert.Nil(t, Mirrors{}.npmArgs())
	assert.Equal(t, []string{"--registry", "http://npm.local/"}, Mirrors{NPMRegistry: "http://npm.local/"}.npmArgs())
}

// TestInstallError: a failed install is said in one line naming the
// package and where it was looked for; the installer's log is kept for
// --verbose only.
func TestInstallError(t *testing.T) {
	m := Mirrors{WheelDir: "/srv/wheels", NPMRegistry: "https://registry.npmjs.org/"}
	pipLog := strings.Repeat("Looking in links: /tmp/esb-wheels\n", 50) +
		"ERROR: Could not find a version that satisfies the requirement esb-missing==1.0 (from versions: none)\n" +
		"ERROR: No matching distribution found for esb-missing==1.0\n"
	err := fmt.Errorf("wrapped: %w", &dagger.ExecError{
		Cmd:    []string{"python3", "-m", "pip", "install", "--disable-pip-version-check", "-r", "/var/task/requirements.txt", "--target", "/var/task"},
		Stderr: pipLog,
	})
	ie, ok := m.installError(err)
	require.True(t, ok)
	assert.Equal(t, "pip install of /var/task/requirements.txt failed: could not install esb-missing==1.0 from wheel directory /srv/wheels (no index); --verbose shows pip's output", ie.Error())
	assert.Contains(t, ie.Output, "No matching distribution found")

	unreachable := &dagger.ExecError{
		Cmd: []string{"python3", "-m", "pip", "install", "-r", "/opt/requirements.txt"},
		Stderr: "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(': Failed to establish a new connection: [Errno 111] Connection refused')'\n" +
			"ERROR: Could not find a version that satisfies the requirement requests (from versions: none)\n",
	}
	ie, ok = Mirrors{PipIndexURL: "http://10.0.0.1:9/simple"}.installError(unreachable)
	require.True(t, ok)
	assert.Equal(t, "pip install of /opt/requirements.txt failed: could not install requests from index http://10.0.0.1:9/simple (the index did not answer); --verbose shows pip's output", ie.Error())

	for _, log := range []string{
		"npm ERR! code E404\nnpm ERR! 404 Not Found - GET https://registry.npmjs.org/esb-no-such-pkg - Not found\nnpm ERR! 404  'esb-no-such-pkg@1.0.0' is not in this registry.\n",
		"npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/esb-no-such-pkg - Not found\n",
	} {
		ie, ok = m.installError(&dagger.ExecError{Cmd: []string{"npm", "install", "--omit=dev"}, Stderr: log})
		require.True(t, ok)
		assert.Equal(t, "npm", ie.Tool)
		assert.Contains(t, ie.Packages, "esb-no-such-pkg", log)
		assert.Contains(t, ie.Error(), "from registry https://registry.npmjs.org/")
	}
	ie, ok = m.installError(&dagger.ExecError{Cmd: []string{"npm", "install"}, Stderr: "npm ERR! 404 Not Found - GET https://registry.npmjs.org/@esb%2fmissing - Not found\n"})
	require.True(t, ok)
	assert.Equal(t, []string{"@esb/missing"}, ie.Packages, "a scoped package by its name")

	_, ok = m.installError(&dagger.ExecError{Cmd: []string{"javac", "-d", "/out"}})
	assert.False(t, ok, "only pip and npm installs")
	_, ok = m.installError(fmt.Errorf("registry said no"))
	assert.False(t, ok)
}
