package provision

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateTableInput(t *testing.T) {
	tests := []struct {
		name    string
		table   string // one resources.yml dynamodb entry
		want    *dynamodb.CreateTableInput
		wantErr string
	}{
		{
			name: "billing mode defaults to PAY_PER_REQUEST",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
AttributeDefinitions: [{AttributeName: id, AttributeType: S}]`,
			want: &dynamodb.CreateTableInput{
				TableName:            aws.String("items"),
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
				BillingMode:          types.BillingModePayPerRequest,
			},
		},
		{
			name: "provisioned table with indexes and a stream",
			table: `
TableName: orders
KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
AttributeDefinitions:
  - {AttributeName: pk, AttributeType: S}
  - {AttributeName: sk, AttributeType: N}
  - {AttributeName: owner, AttributeType: S}
BillingMode: PROVISIONED
ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 2}
GlobalSecondaryIndexes:
  - IndexName: byOwner
    KeySchema: [{AttributeName: owner, KeyType: HASH}]
    Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [total]}
    ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
LocalSecondaryIndexes:
  - IndexName: byOwnerLocal
    KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: owner, KeyType: RANGE}]
    Projection: {ProjectionType: KEYS_ONLY}
StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
SSESpecification: {SSEEnabled: true}`,
			want: &dynamodb.CreateTableInput{
				TableName: aws.String("orders"),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
				},
				AttributeDefinitions: []types.AttributeDefinition{
					{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
					{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
					{AttributeName: aws.String("owner"), AttributeType: types.ScalarAttributeTypeS},
				},
				BillingMode:           types.BillingModeProvisioned,
				ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(2)},
				GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
					IndexName:             aws.String("byOwner"),
					KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("owner"), KeyType: types.KeyTypeHash}},
					Projection:            &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"total"}},
					ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)},
				}},
				LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
					IndexName: aws.String("byOwnerLocal"),
					KeySchema: []types.KeySchemaElement{
						{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
						{AttributeName: aws.String("owner"), KeyType: types.KeyTypeRange},
					},
					Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
				}},
				StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
			},
		},
		{
			name: "a disabled stream is sent as disabled",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
StreamSpecification: {StreamEnabled: false}`,
			want: &dynamodb.CreateTableInput{
				TableName:            aws.String("items"),
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
				BillingMode:          types.BillingModePayPerRequest,
				StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(false)},
			},
		},
		{
			name: "PROVISIONED without throughput",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
BillingMode: PROVISIONED`,
			wantErr: "ProvisionedThroughput: required with BillingMode PROVISIONED",
		},
		{
			name: "PAY_PER_REQUEST with throughput",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}`,
			wantErr: "ProvisionedThroughput: not allowed with BillingMode PAY_PER_REQUEST",
		},
		{
			name: "PROVISIONED index without throughput",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
BillingMode: PROVISIONED
ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}
GlobalSecondaryIndexes:
  - {IndexName: byX, KeySchema: [{AttributeName: x, KeyType: HASH}], Projection: {ProjectionType: ALL}}`,
			wantErr: `GlobalSecondaryIndexes[0] "byX": ProvisionedThroughput: required with BillingMode PROVISIONED`,
		},
		{
			name: "PAY_PER_REQUEST index with throughput",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
GlobalSecondaryIndexes:
  - IndexName: byX
    KeySchema: [{AttributeName: x, KeyType: HASH}]
    Projection: {ProjectionType: ALL}
    ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}`,
			wantErr: `GlobalSecondaryIndexes[0] "byX": ProvisionedThroughput: not allowed with BillingMode PAY_PER_REQUEST`,
		},
		{
			name: "unknown billing mode",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
BillingMode: ON_DEMAND`,
			wantErr: `BillingMode: "ON_DEMAND" is neither PAY_PER_REQUEST nor PROVISIONED`,
		},
		{
			name: "stream without a view type",
			table: `
TableName: items
KeySchema: [{AttributeName: id, KeyType: HASH}]
StreamSpecification: {StreamEnabled: true}`,
			wantErr: "StreamSpecification: StreamViewType: required when the stream is enabled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeResources(t, "resources:\n  dynamodb:\n    - "+indent(tt.table, "      "))
			require.Len(t, res.DynamoDB, 1)

			got, err := createTableInput(res.DynamoDB[0])

			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTimeToLive(t *testing.T) {
	tests := []struct {
		name    string
		spec    map[string]any
		want    *types.TimeToLiveSpecification
		wantErr string
	}{
		{name: "absent", spec: nil, want: nil},
		{name: "disabled needs no call", spec: map[string]any{"AttributeName": "ttl", "Enabled": false}, want: nil},
		{
			name: "enabled",
			spec: map[string]any{"AttributeName": "expires", "Enabled": true},
			want: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)},
		},
		{name: "enabled without attribute", spec: map[string]any{"Enabled": true}, wantErr: "AttributeName: required when Enabled is true"},
		{name: "wrong type", spec: map[string]any{"AttributeName": "x", "Enabled": "maybe"}, wantErr: "cannot unmarshal !!str `maybe` into bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := timeToLive(tt.spec)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "line ", "line numbers of the re-encoded map would mislead")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// indent puts prefix before every line of s but the first, so that a
// multi-line YAML snippet can be nested under a list item.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	return strings.Join(lines, "\n"+prefix)
}
