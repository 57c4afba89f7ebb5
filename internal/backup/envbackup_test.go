package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// sourceEnv is an env with one function whose image is in reg, a table
// with an item, a bucket with an object, and two generations of history.
func sourceEnv(t *testing.T) (string, Sources) {
	t.Helper()
	reg := newMem()
	const repo = "esb-src/hello"
	layer := reg.addBlob(repo, []byte("code"))
	m := reg.addManifest(repo, "application/vnd.oci.image.manifest.v1+json", fmt.Sprintf(`{"layers":[{"digest":%q,"size":%d}]}`, layer.Digest, layer.Size))
	old := reg.addBlob(repo, []byte("old code"))
	oldM := reg.addManifest(repo, "application/vnd.oci.image.manifest.v1+json", fmt.Sprintf(`{"layers":[{"digest":%q,"size":%d}]}`, old.Digest, old.Size))

	dir := filepath.Join(t.TempDir(), "config")
	cfg := func(d string) runtimeconfig.Config {
		c := runtimeconfig.Empty()
		c.Functions.Functions["Hello"] = runtimeconfig.Function{Image: "127.0.0.1:5010/" + repo + ":latest", Digest: d, Runtime: "python3.13", Handler: "app.handler", Timeout: 3, MemorySize: 128}
		c.Routing.Routes = []runtimeconfig.Route{{Path: "/hello", Method: "GET", Function: "Hello", Payload: "1.0"}}
		c.Resources.Resources.DynamoDB = []runtimeconfig.DynamoDBTable{{TableName: "orders",
			KeySchema:            []runtimeconfig.KeySchemaElement{{AttributeName: "id", KeyType: "HASH"}},
			AttributeDefinitions: []runtimeconfig.AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, BillingMode: "PAY_PER_REQUEST"}}
		c.Resources.Resources.S3 = []runtimeconfig.S3Bucket{{BucketName: "uploads"}}
		return c
	}
	store := confighistory.Store{ConfigDir: dir}
	prev := runtimeconfig.Empty()
	for _, d := range []string{oldM.Digest, m.Digest} {
		_, err := runtimeconfig.Replace(t.Context(), dir, runtimeconfig.MergeOptions{AfterWrite: func(_ context.Context, res runtimeconfig.Result) error {
			_, _, err := store.Record(confighistory.Entry{Kind: confighistory.KindDeploy, Config: res.Config, Previous: prev})
			prev = res.Config
			return err
		}}, func(runtimeconfig.Config) (runtimeconfig.Config, error) { return cfg(d), nil })
		require.NoError(t, err)
	}
	tables := &memTable{items: map[string][]map[string]types.AttributeValue{"orders": {{"id": &types.AttributeValueMemberS{Value: "1"}}}}}
	objects := &memBuckets{objects: map[string]map[string][]byte{"uploads": {"a.txt": []byte("a")}}, types: map[string]string{}}
	return dir, Sources{Registry: reg, Tables: tables, Objects: objects}
}

type fakeTargets struct {
	reg        *memRegistry
	tables     *memTable
	objects    *memBuckets
	provisions int
	pulls      []string
}

func (f *fakeTargets) targets() Targets {
	return Targets{Registry: f.reg, Tables: f.tables, Objects: f.objects,
		Provision:  func(context.Context) (string, error) { f.provisions++; return "ok", nil },
		PullImages: func(_ context.Context, refs []string) error { f.pulls = append(f.pulls, refs...); return nil }}
}

func newTargets() *fakeTargets {
	return &fakeTargets{reg: newMem(), tables: &memTable{items: map[string][]map[string]types.AttributeValue{}},
		objects: &memBuckets{objects: map[string]map[string][]byte{}, types: map[string]string{}}}
}

func TestBackupAndRestoreIntoANewEnv(t *testing.T) {
	srcDir, src := sourceEnv(t)
	file := filepath.Join(t.TempDir(), "env.esbbackup")
	sum, err := Take(t.Context(), TakeOptions{ConfigDir: srcDir, Env: "src", Mode: "docker", Output: file}, src)
	require.NoError(t, err)
	assert.Equal(t, Summary{Functions: 1, Generations: 2, Images: 2, Items: 1, Objects: 1, Bytes: sum.Bytes}, sum)
	assert.NoFileExists(t, file+".tmp")

	dstDir := filepath.Join(t.TempDir(), "config")
	dst := newTargets()
	opts := RestoreOptions{File: file, ConfigDir: dstDir, Repository: "esb-dst", Registry: "registry:5000"}
	rsum, err := Restore(t.Context(), opts, dst.targets())
	require.NoError(t, err)
	assert.Equal(t, 1, rsum.Items)
	assert.Equal(t, 1, rsum.Objects)
	assert.Equal(t, 2, rsum.Images)

	srcCfg, err := runtimeconfig.Load(srcDir)
	require.NoError(t, err)
	dstCfg, err := runtimeconfig.Load(dstDir)
	require.NoError(t, err)
	assert.Equal(t, srcCfg.Routing, dstCfg.Routing)
	assert.Equal(t, srcCfg.Resources, dstCfg.Resources)
	hello := dstCfg.Functions.Functions["Hello"]
	assert.Equal(t, "registry:5000/esb-dst/hello:latest", hello.Image)
	assert.Equal(t, srcCfg.Functions.Functions["Hello"].Digest, hello.Digest)
	assert.Contains(t, dst.reg.manifests, "esb-dst/hello@"+hello.Digest)
	assert.Equal(t, []string{"registry:5000/esb-dst/hello@" + hello.Digest}, dst.pulls)
	assert.Equal(t, src.Tables.(*memTable).items["orders"], dst.tables.items["orders"])
	assert.Equal(t, src.Objects.(*memBuckets).objects["uploads"], dst.objects.objects["uploads"])
	assert.Equal(t, 1, dst.provisions, "resources provisioned once, before the data and the functions")

	listed, err := confighistory.Store{ConfigDir: dstDir}.List()
	require.NoError(t, err)
	require.Len(t, listed, 3)
	assert.Equal(t, confighistory.KindRestore, listed[2].Kind)
	assert.True(t, listed[2].Current)
	refs, err := confighistory.Referenced(dstDir)
	require.NoError(t, err)
	for _, r := range refs {
		assert.Contains(t, dst.reg.manifests, r, "every generation's image is in the new registry")
	}

	// A second restore into the same env is refused.
	_, err = Restore(t.Context(), opts, newTargets().targets())
	assert.ErrorContains(t, err, "restore into a fresh env")
}

func TestRestoreRefusesATamperedArchiveAndChangesNothing(t *testing.T) {
	srcDir, src := sourceEnv(t)
	file := filepath.Join(t.TempDir(), "env.esbbackup")
	_, err := Take(t.Context(), TakeOptions{ConfigDir: srcDir, Env: "src", Output: file}, src)
	require.NoError(t, err)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, data[:len(data)-100], 0o644))

	dstDir := filepath.Join(t.TempDir(), "config")
	dst := newTargets()
	_, err = Restore(t.Context(), RestoreOptions{File: file, ConfigDir: dstDir, Repository: "esb-dst", Registry: "r"}, dst.targets())
	assert.ErrorIs(t, err, ErrInvalid)
	assert.NoDirExists(t, dstDir)
	assert.Empty(t, dst.reg.blobs)
	assert.Zero(t, dst.provisions)
}
