package confighistory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/atomicdir"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func config(digests map[string]string) runtimeconfig.Config {
	cfg := runtimeconfig.Empty()
	for name, d := range digests {
		cfg.Functions.Functions[name] = runtimeconfig.Function{
			Image: "127.0.0.1:5010/esb-dev/" + strings.ToLower(name) + ":latest", Digest: d,
			Runtime: "python3.13", Handler: "app.handler", Timeout: 3, MemorySize: 128,
		}
	}
	return cfg
}

func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

func newStore(t *testing.T, keep int) Store {
	t.Helper()
	return Store{ConfigDir: filepath.Join(t.TempDir(), "config"), Keep: keep}
}

func TestRecordNumbersDiffsAndRetention(t *testing.T) {
	s := newStore(t, 3)
	prev := runtimeconfig.Empty()
	for i := 1; i <= 5; i++ {
		next := config(map[string]string{"Stable": digest(100), "Moving": digest(i)})
		if i == 5 {
			next = config(map[string]string{"Moving": digest(i)}) // Stable removed
		}
		g, warnings, err := s.Record(Entry{Kind: KindDeploy, Template: "/t.yml", TemplateHash: "abc", Config: next, Previous: prev, Time: time.Unix(int64(i), 0)})
		require.NoError(t, err)
		assert.Empty(t, warnings)
		assert.Equal(t, i, g.Number)
		switch i {
		case 1:
			assert.Equal(t, []string{"Moving", "Stable"}, g.Changed)
		case 5:
			assert.Equal(t, []string{"Moving"}, g.Changed)
			assert.Equal(t, []string{"Stable"}, g.Removed)
		default:
			assert.Equal(t, []string{"Moving"}, g.Changed)
			assert.Empty(t, g.Removed)
		}
		prev = next
	}

	listed, err := s.List()
	require.NoError(t, err)
	var numbers []int
	for _, l := range listed {
		require.NoError(t, l.Err)
		numbers = append(numbers, l.Number)
	}
	assert.Equal(t, []int{3, 4, 5}, numbers, "Keep=3 keeps the newest three")

	// The images file and Referenced name exactly the retained generations'
	// images, by registry path.
	want := []string{
		"esb-dev/moving@" + digest(3), "esb-dev/moving@" + digest(4), "esb-dev/moving@" + digest(5),
		"esb-dev/stable@" + digest(100),
	}
	refs, err := Referenced(s.ConfigDir)
	require.NoError(t, err)
	assert.Equal(t, want, refs)
	data, err := os.ReadFile(ImagesFile(s.ConfigDir))
	require.NoError(t, err)
	assert.Equal(t, strings.Join(want, "\n")+"\n", string(data))

	// Numbers are never reused, even once old ones are pruned.
	g, _, err := s.Record(Entry{Kind: KindDeploy, Config: prev, Previous: prev})
	require.NoError(t, err)
	assert.Equal(t, 6, g.Number)
	assert.Empty(t, g.Changed)

	prevGen, err := s.Previous()
	require.NoError(t, err)
	assert.Equal(t, 5, prevGen)
}

func TestLoadRoundTripsAndMarksCurrent(t *testing.T) {
	s := newStore(t, 0)
	a := config(map[string]string{"Fn": digest(1)})
	b := config(map[string]string{"Fn": digest(2)})
	_, _, err := s.Record(Entry{Kind: KindDeploy, Config: a, Previous: runtimeconfig.Empty()})
	require.NoError(t, err)
	_, _, err = s.Record(Entry{Kind: KindDeploy, Config: b, Previous: a})
	require.NoError(t, err)

	g, cfg, err := s.Load(1)
	require.NoError(t, err)
	assert.Equal(t, digest(1), cfg.Functions.Functions["Fn"].Digest)
	assert.Equal(t, []Image{{Function: "Fn", Image: "127.0.0.1:5010/esb-dev/fn:latest", Digest: digest(1)}}, g.Images)

	// CONFIG_DIR holding b's files makes generation 2 current.
	files, err := runtimeconfig.Marshal(b)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(s.ConfigDir, 0o755))
	commit, err := atomicdir.Publish(s.ConfigDir, map[string][]byte{
		runtimeconfig.FunctionsFileName: files.Functions, runtimeconfig.RoutingFileName: files.Routing, runtimeconfig.ResourcesFileName: files.Resources,
	})
	require.NoError(t, err)
	require.NoError(t, commit.Finish())
	listed, err := s.List()
	require.NoError(t, err)
	require.Len(t, listed, 2)
	assert.False(t, listed[0].Current)
	assert.True(t, listed[1].Current)
}

func TestCorruptOrMissingGenerations(t *testing.T) {
	s := newStore(t, 0)
	for i := 1; i <= 4; i++ {
		_, _, err := s.Record(Entry{Kind: KindDeploy, Config: config(map[string]string{"Fn": digest(i)}), Previous: runtimeconfig.Empty()})
		require.NoError(t, err)
	}
	gen := func(n int, name string) string { return filepath.Join(Dir(s.ConfigDir), genName(n), name) }
	// 1: a config file edited after the record.
	require.NoError(t, os.WriteFile(gen(1, runtimeconfig.FunctionsFileName), []byte("functions: {}\n"), 0o644))
	// 2: the record itself is not JSON.
	require.NoError(t, os.WriteFile(gen(2, metaName), []byte("{not json"), 0o644))
	// 3: the record is gone.
	require.NoError(t, os.Remove(gen(3, metaName)))

	for _, n := range []int{1, 2, 3} {
		_, _, err := s.Load(n)
		assert.ErrorIs(t, err, ErrCorrupt, "generation %d", n)
		assert.Contains(t, err.Error(), fmt.Sprintf("generation %d", n))
	}
	_, _, err := s.Load(9)
	assert.ErrorIs(t, err, ErrNotFound)
	_, _, err = s.Load(4)
	assert.NoError(t, err)

	listed, err := s.List()
	require.NoError(t, err)
	require.Len(t, listed, 4, "corrupt generations are listed, not hidden")
	for _, l := range listed[:3] {
		assert.ErrorIs(t, l.Err, ErrCorrupt)
	}
	assert.NoError(t, listed[3].Err)

	// What a corrupt generation pins is unknown: a collector must be told.
	_, err = Referenced(s.ConfigDir)
	assert.ErrorIs(t, err, ErrCorrupt)

	// Recording still works; the images file is left as it was, with a
	// warning.
	before, err := os.ReadFile(ImagesFile(s.ConfigDir))
	require.NoError(t, err)
	g, warnings, err := s.Record(Entry{Kind: KindDeploy, Config: config(map[string]string{"Fn": digest(5)}), Previous: runtimeconfig.Empty()})
	require.NoError(t, err)
	assert.Equal(t, 5, g.Number)
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "not rewritten")
	after, err := os.ReadFile(ImagesFile(s.ConfigDir))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))
}

func TestStaleTemporaryDirIsNoGeneration(t *testing.T) {
	s := newStore(t, 0)
	require.NoError(t, os.MkdirAll(filepath.Join(Dir(s.ConfigDir), tmpPrefix+"000001-123"), 0o755))
	_, err := s.Previous()
	assert.Error(t, err)
	g, _, err := s.Record(Entry{Kind: KindDeploy, Config: config(map[string]string{"Fn": digest(1)}), Previous: runtimeconfig.Empty()})
	require.NoError(t, err)
	assert.Equal(t, 1, g.Number)
	listed, err := s.List()
	require.NoError(t, err)
	assert.Len(t, listed, 1)
	assert.False(t, errors.Is(listed[0].Err, ErrCorrupt))
	assert.NoDirExists(t, filepath.Join(Dir(s.ConfigDir), tmpPrefix+"000001-123"), "the next record removes it")
}

func TestImportKeepsNumbersAndRecomputesChecksums(t *testing.T) {
	s := newStore(t, 0)
	cfg := config(map[string]string{"Fn": digest(1)})
	g, err := s.Import(Generation{Number: 7, Kind: KindRollback, RollbackOf: 3, Template: "/t.yml", Time: time.Unix(5, 0).UTC(), Changed: []string{"Fn"}, Removed: []string{}}, cfg)
	require.NoError(t, err)
	loaded, _, err := s.Load(7)
	require.NoError(t, err)
	assert.Equal(t, g, loaded)
	assert.Equal(t, 3, loaded.RollbackOf)
	_, err = s.Import(Generation{Number: 7}, cfg)
	assert.ErrorContains(t, err, "already")
	next, _, err := s.Record(Entry{Kind: KindRestore, Config: cfg, Previous: cfg})
	require.NoError(t, err)
	assert.Equal(t, 8, next.Number, "numbering goes on after the imported ones")
	refs, err := Referenced(s.ConfigDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"esb-dev/fn@" + digest(1)}, refs)
}
