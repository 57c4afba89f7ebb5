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
	assert.Equal(t, "esbdag20", l.DaggerBridge(), "the bridge Dagger makes for network esbdag2")

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

func TestBindAddrs(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     map[string]string // only the variables checked
		wantErr  string
	}{
		{name: "nothing set: all on loopback", want: map[string]string{
			"ESB_BIND_ADDR": "127.0.0.1", "ESB_BIND_ADDR_REGISTRY": "127.0.0.1", "ESB_BIND_ADDR_S3": "127.0.0.1",
			"ESB_BIND_ADDR_DATABASE": "127.0.0.1", "ESB_BIND_ADDR_LOGS": "127.0.0.1", "ESB_BIND_ADDR_MESSAGING": "127.0.0.1"}},
		{name: "ESB_BIND_ADDR widens the gateway only", settings: map[string]string{"ESB_BIND_ADDR": "0.0.0.0"},
			want: map[string]string{"ESB_BIND_ADDR": "0.0.0.0", "ESB_BIND_ADDR_S3": "127.0.0.1", "ESB_BIND_ADDR_REGISTRY": "127.0.0.1", "ESB_BIND_ADDR_LOGS": "127.0.0.1"}},
		{name: "one service asked for by itself", settings: map[string]string{"ESB_BIND_ADDR_S3": " 10.0.0.5 "},
			want: map[string]string{"ESB_BIND_ADDR": "127.0.0.1", "ESB_BIND_ADDR_S3": "10.0.0.5", "ESB_BIND_ADDR_DATABASE": "127.0.0.1"}},
		{name: "registry on every address", settings: map[string]string{"ESB_BIND_ADDR_REGISTRY": "0.0.0.0"},
			want: map[string]string{"ESB_BIND_ADDR_REGISTRY": "0.0.0.0"}},
		{name: "registry off loopback is refused", settings: map[string]string{"ESB_BIND_ADDR_REGISTRY": "10.0.0.5"}, wantErr: "ESB_BIND_ADDR_REGISTRY"},
		{name: "not an address", settings: map[string]string{"ESB_BIND_ADDR": "example.com"}, wantErr: `ESB_BIND_ADDR="example.com"`},
		{name: "IPv6 is refused", settings: map[string]string{"ESB_BIND_ADDR_LOGS": "::"}, wantErr: "IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BindAddrs(tt.settings)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
			assert.Len(t, got, len(BindVars()))
		})
	}
}

func TestBindVarsOfPorts(t *testing.T) {
	byPort := map[string]string{}
	for _, p := range Ports() {
		byPort[p.Var] = p.BindVar()
	}
	assert.Equal(t, map[string]string{
		"PORT_GATEWAY": "ESB_BIND_ADDR", "PORT_GATEWAY_TLS": "ESB_BIND_ADDR",
		"PORT_REGISTRY": "ESB_BIND_ADDR_REGISTRY", "PORT_S3": "ESB_BIND_ADDR_S3", "PORT_DATABASE": "ESB_BIND_ADDR_DATABASE",
		"PORT_LOGS": "ESB_BIND_ADDR_LOGS", "PORT_MESSAGING": "ESB_BIND_ADDR_MESSAGING",
		"PORT_ADMIN": "", // loopback whatever is set
		// kubernetes mode alone, on ESB_K8S_HOST_ADDR
		"PORT_RUNTIME_API": "", "PORT_INVOKE": "",
	}, byPort)
	assert.Equal(t, []string{"ESB_BIND_ADDR", "ESB_BIND_ADDR_REGISTRY", "ESB_BIND_ADDR_S3", "ESB_BIND_ADDR_DATABASE", "ESB_BIND_ADDR_LOGS", "ESB_BIND_ADDR_MESSAGING"}, BindVars())
}

func TestDialAddr(t *testing.T) {
	e, err := New("", "dev")
	require.NoError(t, err)
	l, err := Resolve(e, LayoutOptions{Dirs: Dirs{Home: "/h"}, PortOffset: 100, Bind: map[string]string{"ESB_BIND_ADDR": "10.1.2.3", "ESB_BIND_ADDR_S3": "0.0.0.0"}})
	require.NoError(t, err)
	assert.Equal(t, "10.1.2.3:5101", l.DialAddr("PORT_GATEWAY_TLS"), "bound to one address: dial it")
	assert.Equal(t, "127.0.0.1:5120", l.DialAddr("PORT_S3"), "bound to every address: loopback")
	assert.Equal(t, "127.0.0.1:5130", l.DialAddr("PORT_DATABASE"))
	assert.Equal(t, "127.0.0.1:5160", l.DialAddr("PORT_ADMIN"), "the admin port stays on loopback")
	wide, err := Resolve(e, LayoutOptions{Dirs: Dirs{Home: "/h"}, Bind: map[string]string{"ESB_BIND_ADDR": "0.0.0.0", "ESB_BIND_ADDR_ADMIN": "0.0.0.0"}})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5060", wide.DialAddr("PORT_ADMIN"), "no setting widens the admin port")
	vars := map[string]string{}
	for _, v := range l.Vars() {
		vars[v.Name] = v.Value
	}
	assert.Equal(t, "10.1.2.3", vars["ESB_BIND_ADDR"])
	assert.Equal(t, "127.0.0.1", vars["ESB_BIND_ADDR_LOGS"])
	assert.Equal(t, "5101", vars["PORT_GATEWAY_TLS"])
	assert.Equal(t, l.ConfigDir+"/tls/ca.crt", vars["ESB_TLS_CA_FILE"])
	l.OperatorCert = true
	for _, v := range l.Vars() {
		assert.NotEqual(t, "ESB_TLS_CA_FILE", v.Name, "the operator's certificate: no env CA")
	}
}
