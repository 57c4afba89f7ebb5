package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDir(t *testing.T) {
	tests := []struct {
		name  string
		brand string
		env   string
		dirs  Dirs
		want  string
	}{
		{
			name: "worked example from ARCHITECTURE.md with XDG_CACHE_HOME",
			env:  "Dev",
			dirs: Dirs{XDGCacheHome: "/x", Home: "/home/u"},
			want: "/x/esb/staging/esb-dev-7a9f2a81/dev/config",
		},
		{
			name: "worked example without XDG_CACHE_HOME",
			env:  "Dev",
			dirs: Dirs{Home: "/home/u"},
			want: "/home/u/.esb/.cache/staging/esb-dev-7a9f2a81/dev/config",
		},
		{
			name: "env is lower-cased before hashing",
			env:  "DEV",
			dirs: Dirs{Home: "/h"},
			want: "/h/.esb/.cache/staging/esb-dev-7a9f2a81/dev/config",
		},
		{
			name:  "brand changes project, root and hash",
			brand: "Acme",
			env:   "prod",
			dirs:  Dirs{XDGCacheHome: "/c"},
			want:  "/c/acme/staging/acme-prod-" + hash8("acme-prod:prod") + "/prod/config",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.brand, tt.env)
			require.NoError(t, err)
			got, err := e.ConfigDir(tt.dirs)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// hash8 restates the rule independently of StageKey.
func hash8(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])[:8]
}

func TestStageKeyDiffersPerEnv(t *testing.T) {
	a, err := New("", "a")
	require.NoError(t, err)
	b, err := New("", "b")
	require.NoError(t, err)
	assert.NotEqual(t, a.StageKey(), b.StageKey())
	assert.Equal(t, "esb-a-"+hash8("esb-a:a"), a.StageKey())
}

func TestConfigDirErrors(t *testing.T) {
	e, err := New("", "dev")
	require.NoError(t, err)

	_, err = e.ConfigDir(Dirs{})
	assert.ErrorContains(t, err, "neither XDG_CACHE_HOME nor HOME is set")

	_, err = e.ConfigDir(Dirs{XDGCacheHome: "relative/cache"})
	assert.ErrorContains(t, err, `XDG_CACHE_HOME "relative/cache" is not an absolute path`)
}

func TestNewRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "a b", "-x", "a/b", "ä"} {
		_, err := New("", name)
		assert.Error(t, err, "env %q", name)
	}
	_, err := New("bad brand", "dev")
	assert.ErrorContains(t, err, `brand "bad brand"`)
}

func TestLayout(t *testing.T) {
	e, err := New("", "e2e-a")
	require.NoError(t, err)
	l, err := Resolve(e, LayoutOptions{Dirs: Dirs{XDGCacheHome: "/c"}, PortOffset: 200})
	require.NoError(t, err)

	assert.Equal(t, 5210, l.Ports["PORT_REGISTRY"])
	assert.Equal(t, "127.0.0.1:5210", l.RegistryAddr())
	assert.Equal(t, "/c/esb/staging/"+e.StageKey()+"/e2e-a/dagger-run/engine.sock", l.DaggerSocket())
	name, cidr := l.DaggerNetwork()
	assert.Equal(t, "esbdag2", name)
	assert.Equal(t, "10.89.2.0/24", cidr)

	vars := map[string]string{}
	for _, v := range l.Vars() {
		vars[v.Name] = v.Value
	}
	assert.Equal(t, "esb-e2e-a", vars["COMPOSE_PROJECT_NAME"])
	assert.Equal(t, l.ConfigDir, vars["CONFIG_DIR"])
	for _, p := range Ports() {
		assert.Contains(t, vars, p.Var)
	}

	_, err = Resolve(e, LayoutOptions{Dirs: Dirs{Home: "/h"}, PortOffset: -100})
	assert.ErrorContains(t, err, "out of range")
}
