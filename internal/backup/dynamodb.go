package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Tables in an archive: dynamodb/<table>.jsonl, one item a line in
// DynamoDB's JSON ({"id": {"S": "x"}}), as the DynamoDB API writes it.
const tablesDir = "dynamodb"

// batchSize is BatchWriteItem's limit.
const batchSize = 25

// TableAPI is the part of the DynamoDB API backups use.
type TableAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// SaveTables writes every item of tables into w, one entry a table. Each
// table is scanned once while the env serves: an item written during the
// scan may or may not be in it (as with DynamoDB's own exports).
func SaveTables(ctx context.Context, w *Writer, api TableAPI, tables []string) (items int, err error) {
	for _, table := range tables {
		var buf bytes.Buffer
		var start map[string]types.AttributeValue
		for {
			out, err := api.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
			if err != nil {
				return items, fmt.Errorf("scan table %s: %w", table, err)
			}
			for _, item := range out.Items {
				line, err := json.Marshal(encodeItem(item))
				if err != nil {
					return items, fmt.Errorf("table %s: %w", table, err)
				}
				buf.Write(line)
				buf.WriteByte('\n')
				items++
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			start = out.LastEvaluatedKey
		}
		if err := w.AddBytes(tablesDir+"/"+table+".jsonl", buf.Bytes()); err != nil {
			return items, err
		}
	}
	return items, nil
}

// LoadTables writes the items staged in dir into their tables (which
// must exist: the provisioner creates them first), 25 at a time, retrying
// what DynamoDB leaves unprocessed.
func LoadTables(ctx context.Context, dir string, api TableAPI) (items int, err error) {
	entries, err := os.ReadDir(filepath.Join(dir, tablesDir))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		table, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok {
			continue
		}
		f, err := os.Open(filepath.Join(dir, tablesDir, e.Name()))
		if err != nil {
			return items, err
		}
		n, err := loadTable(ctx, api, table, f)
		f.Close()
		items += n
		if err != nil {
			return items, err
		}
	}
	return items, nil
}

func loadTable(ctx context.Context, api TableAPI, table string, r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20) // DynamoDB items are at most 400 KB
	var batch []types.WriteRequest
	n := 0
	flush := func() error {
		for len(batch) > 0 {
			out, err := api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: batch}})
			if err != nil {
				return fmt.Errorf("restore table %s: %w", table, err)
			}
			batch = out.UnprocessedItems[table]
		}
		return nil
	}
	for sc.Scan() {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return n, fmt.Errorf("table %s line %d: %w", table, n+1, err)
		}
		item, err := decodeItem(raw)
		if err != nil {
			return n, fmt.Errorf("table %s line %d: %w", table, n+1, err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		n++
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("table %s: %w", table, err)
	}
	return n, flush()
}

// encodeItem is an item in DynamoDB's JSON.
func encodeItem(item map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(item))
	for k, v := range item {
		out[k] = encodeValue(v)
	}
	return out
}

func encodeValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = encodeValue(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": encodeItem(v.Value)}
	}
	return nil
}

func decodeItem(raw map[string]json.RawMessage) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(raw))
	for k, v := range raw {
		av, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func decodeValue(data json.RawMessage) (types.AttributeValue, error) {
	var typed map[string]json.RawMessage
	if err := json.Unmarshal(data, &typed); err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		return nil, fmt.Errorf("want one type key, have %d", len(typed))
	}
	for kind, v := range typed {
		return decodeKind(kind, v)
	}
	return nil, nil
}

// decodeKind decodes one typed value.
func decodeKind(kind string, v json.RawMessage) (types.AttributeValue, error) {
	switch kind {
	case "S":
		var s string
		err := json.Unmarshal(v, &s)
		return &types.AttributeValueMemberS{Value: s}, err
	case "N":
		var s string
		err := json.Unmarshal(v, &s)
		return &types.AttributeValueMemberN{Value: s}, err
	case "B":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		return &types.AttributeValueMemberB{Value: b}, err
	case "BOOL":
		var b bool
		err := json.Unmarshal(v, &b)
		return &types.AttributeValueMemberBOOL{Value: b}, err
	case "NULL":
		var b bool
		err := json.Unmarshal(v, &b)
		return &types.AttributeValueMemberNULL{Value: b}, err
	case "SS", "NS":
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, err
		}
		if kind == "SS" {
			return &types.AttributeValueMemberSS{Value: ss}, nil
		}
		return &types.AttributeValueMemberNS{Value: ss}, nil
	case "BS":
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, err
		}
		bs := make([][]byte, len(ss))
		for i, s := range ss {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			bs[i] = b
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	case "L":
		var raw []json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
		l := make([]types.AttributeValue, len(raw))
		for i, e := range raw {
			av, err := decodeValue(e)
			if err != nil {
				return nil, err
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case "M":
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
		m, err := decodeItem(raw)
		return &types.AttributeValueMemberM{Value: m}, err
	}
	return nil, fmt.Errorf("unknown attribute type %q", kind)
}
