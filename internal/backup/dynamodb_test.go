package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memTable pages its items two at a time and leaves the first write of
// every batch unprocessed once, as a throttled DynamoDB does.
type memTable struct {
	items    map[string][]map[string]types.AttributeValue
	throttle bool
}

func (m *memTable) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	all := m.items[aws.ToString(in.TableName)]
	start := 0
	if in.ExclusiveStartKey != nil {
		fmt.Sscan(in.ExclusiveStartKey["i"].(*types.AttributeValueMemberN).Value, &start)
	}
	end := min(start+2, len(all))
	out := &dynamodb.ScanOutput{Items: all[start:end]}
	if end < len(all) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"i": &types.AttributeValueMemberN{Value: fmt.Sprint(end)}}
	}
	return out, nil
}

func (m *memTable) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, reqs := range in.RequestItems {
		if m.throttle && len(reqs) > 1 {
			out.UnprocessedItems[table] = reqs[:1]
			reqs = reqs[1:]
		}
		for _, r := range reqs {
			m.items[table] = append(m.items[table], r.PutRequest.Item)
		}
	}
	return out, nil
}

func TestTablesRoundTripEveryAttributeType(t *testing.T) {
	item := map[string]types.AttributeValue{
		"id":   &types.AttributeValueMemberS{Value: "a"},
		"n":    &types.AttributeValueMemberN{Value: "1.5"},
		"b":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"t":    &types.AttributeValueMemberBOOL{Value: true},
		"null": &types.AttributeValueMemberNULL{Value: true},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"ns":   &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "in list"}}},
		"m":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberN{Value: "7"}}},
	}
	var items []map[string]types.AttributeValue
	for i := range 30 { // more than a page and more than a batch
		it := map[string]types.AttributeValue{}
		for k, v := range item {
			it[k] = v
		}
		it["id"] = &types.AttributeValueMemberS{Value: fmt.Sprint(i)}
		items = append(items, it)
	}
	src := &memTable{items: map[string][]map[string]types.AttributeValue{"orders": items, "empty": nil}}

	file := filepath.Join(t.TempDir(), "b")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := NewWriter(f, "dev", "docker", time.Now())
	n, err := SaveTables(t.Context(), w, src, []string{"orders", "empty"})
	require.NoError(t, err)
	assert.Equal(t, 30, n)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())

	stage := t.TempDir()
	_, err = Extract(file, stage)
	require.NoError(t, err)

	dst := &memTable{items: map[string][]map[string]types.AttributeValue{}, throttle: true}
	n, err = LoadTables(t.Context(), stage, dst)
	require.NoError(t, err)
	assert.Equal(t, 30, n)
	assert.ElementsMatch(t, items, dst.items["orders"])
	assert.Empty(t, dst.items["empty"])
}
