package backup

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memBuckets lists one key a page.
type memBuckets struct {
	objects map[string]map[string][]byte
	types   map[string]string
}

func (m *memBuckets) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	var keys []string
	for k := range m.objects[aws.ToString(in.Bucket)] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	i := 0
	if in.ContinuationToken != nil {
		i = sort.SearchStrings(keys, *in.ContinuationToken)
	}
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}
	if i < len(keys) {
		out.Contents = []types.Object{{Key: aws.String(keys[i])}}
	}
	if i+1 < len(keys) {
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(keys[i+1])
	}
	return out, nil
}

func (m *memBuckets) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	data := m.objects[aws.ToString(in.Bucket)][aws.ToString(in.Key)]
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String(m.types[aws.ToString(in.Key)])}, nil
}

func (m *memBuckets) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if m.objects[aws.ToString(in.Bucket)] == nil {
		m.objects[aws.ToString(in.Bucket)] = map[string][]byte{}
	}
	m.objects[aws.ToString(in.Bucket)][aws.ToString(in.Key)] = data
	m.types[aws.ToString(in.Key)] = aws.ToString(in.ContentType)
	return &s3.PutObjectOutput{}, nil
}

func TestObjectsRoundTrip(t *testing.T) {
	src := &memBuckets{objects: map[string]map[string][]byte{
		"uploads": {"a.txt": []byte("a"), "../escape": []byte("not a path"), "dir/b.json": []byte(`{}`)},
		"empty":   {},
	}, types: map[string]string{"dir/b.json": "application/json"}}
	file := filepath.Join(t.TempDir(), "b")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := NewWriter(f, "dev", "docker", time.Now())
	n, err := SaveObjects(t.Context(), w, src, []string{"uploads", "empty"})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())

	stage := t.TempDir()
	_, err = Extract(file, stage)
	require.NoError(t, err)
	dst := &memBuckets{objects: map[string]map[string][]byte{}, types: map[string]string{}}
	n, err = LoadObjects(t.Context(), stage, dst)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, src.objects["uploads"], dst.objects["uploads"])
	assert.Equal(t, "application/json", dst.types["dir/b.json"])
}
