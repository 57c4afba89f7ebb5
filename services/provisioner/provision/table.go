package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// ensureTable creates t unless a table of that name exists, waits until the
// new table is ACTIVE and then applies its time-to-live setting.
func (p *Provisioner) ensureTable(ctx context.Context, t runtimeconfig.DynamoDBTable) (outcome, error) {
	// Build everything before touching the backend, so that a manifest
	// mistake never leaves a half-configured table behind.
	in, err := createTableInput(t)
	if err != nil {
		return outcome{}, err
	}
	ttl, err := timeToLive(t.TimeToLiveSpecification)
	if err != nil {
		return outcome{}, fmt.Errorf("TimeToLiveSpecification: %w", err)
	}

	exists, err := p.tableExists(ctx, t.TableName)
	if err != nil {
		return outcome{}, fmt.Errorf("describe: %w", concise(err))
	}
	if exists {
		return outcome{status: StatusExisted, detail: "skipped"}, nil
	}
	if _, err := p.db.CreateTable(ctx, in); err != nil {
		// Another provisioner run may have created it since DescribeTable.
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return outcome{status: StatusExisted, detail: "skipped"}, nil
		}
		return outcome{}, fmt.Errorf("create: %w", concise(err))
	}

	waiter := dynamodb.NewTableExistsWaiter(p.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = p.opts.TablePollInterval
		o.MaxDelay = max(p.opts.TablePollInterval, maxTablePollInterval)
	})
	// UpdateTimeToLive and the functions that use the table right after a
	// deploy both need it ACTIVE; CreateTable only starts creating it.
	desc, err := waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)}, p.opts.TableActiveTimeout)
	if err != nil {
		return outcome{}, fmt.Errorf("wait for ACTIVE (up to %s): %w", p.opts.TableActiveTimeout, concise(err))
	}

	out := outcome{status: StatusCreated}
	// dynalite accepts StreamSpecification and silently creates the table
	// without a stream; say so instead of letting a user wait for events.
	if wantStream(in) && !hasStream(desc) {
		out.warnings = append(out.warnings, "StreamSpecification not applied, the backend created the table without a stream")
	}
	if ttl != nil {
		_, err := p.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(t.TableName),
			TimeToLiveSpecification: ttl,
		})
		if msg, rejected := rejectedByBackend(err); rejected {
			// The table itself is usable; items just do not expire.
			out.warnings = append(out.warnings, "TimeToLiveSpecification not applied, the backend rejected it: "+msg)
		} else if err != nil {
			return outcome{}, fmt.Errorf("update time to live: %w", err)
		}
	}
	return out, nil
}

// maxTablePollInterval caps the waiter's back-off, so a table that turns
// ACTIVE is noticed soon after.
const maxTablePollInterval = 2 * time.Second

// tableExists asks the backend whether a table called name exists, in any
// state.
func (p *Provisioner) tableExists(ctx context.Context, name string) (bool, error) {
	_, err := p.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &notFound):
		return false, nil
	default:
		return false, err
	}
}

// createTableInput turns a manifest entry into the CreateTable request.
// Values the backend validates anyway (key types, attribute types,
// projection types) are passed through as written, so the error a user
// sees is the backend's own.
func createTableInput(t runtimeconfig.DynamoDBTable) (*dynamodb.CreateTableInput, error) {
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(t.TableName),
		KeySchema:            keySchema(t.KeySchema),
		AttributeDefinitions: make([]types.AttributeDefinition, 0, len(t.AttributeDefinitions)),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}

	switch t.BillingMode {
	case "", string(types.BillingModePayPerRequest):
		in.BillingMode = types.BillingModePayPerRequest
		if t.ProvisionedThroughput != nil {
			return nil, errors.New("ProvisionedThroughput: not allowed with BillingMode PAY_PER_REQUEST")
		}
	case string(types.BillingModeProvisioned):
		in.BillingMode = types.BillingModeProvisioned
		if t.ProvisionedThroughput == nil {
			return nil, errors.New("ProvisionedThroughput: required with BillingMode PROVISIONED")
		}
		in.ProvisionedThroughput = throughput(t.ProvisionedThroughput)
	default:
		return nil, fmt.Errorf("BillingMode: %q is neither PAY_PER_REQUEST nor PROVISIONED", t.BillingMode)
	}

	for i, ix := range t.GlobalSecondaryIndexes {
		gsi := types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: projection(ix.Projection),
		}
		switch {
		case in.BillingMode == types.BillingModeProvisioned && ix.ProvisionedThroughput == nil:
			return nil, fmt.Errorf("GlobalSecondaryIndexes[%d] %q: ProvisionedThroughput: required with BillingMode PROVISIONED", i, ix.IndexName)
		case in.BillingMode == types.BillingModePayPerRequest && ix.ProvisionedThroughput != nil:
			return nil, fmt.Errorf("GlobalSecondaryIndexes[%d] %q: ProvisionedThroughput: not allowed with BillingMode PAY_PER_REQUEST", i, ix.IndexName)
		}
		gsi.ProvisionedThroughput = throughput(ix.ProvisionedThroughput)
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	for _, ix := range t.LocalSecondaryIndexes {
		// An LSI shares its table's capacity; it has no throughput of its own.
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: projection(ix.Projection),
		})
	}

	stream, err := streamSpecification(t.StreamSpecification)
	if err != nil {
		return nil, fmt.Errorf("StreamSpecification: %w", err)
	}
	in.StreamSpecification = stream
	return in, nil
}

func keySchema(ks []runtimeconfig.KeySchemaElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{
			AttributeName: aws.String(k.AttributeName),
			KeyType:       types.KeyType(k.KeyType),
		})
	}
	return out
}

func projection(p runtimeconfig.Projection) *types.Projection {
	return &types.Projection{
		ProjectionType:   types.ProjectionType(p.ProjectionType),
		NonKeyAttributes: p.NonKeyAttributes,
	}
}

func throughput(p *runtimeconfig.ProvisionedThroughput) *types.ProvisionedThroughput {
	if p == nil {
		return nil
	}
	return &types.ProvisionedThroughput{
		ReadCapacityUnits:  aws.Int64(p.ReadCapacityUnits),
		WriteCapacityUnits: aws.Int64(p.WriteCapacityUnits),
	}
}

func wantStream(in *dynamodb.CreateTableInput) bool {
	return in.StreamSpecification != nil && aws.ToBool(in.StreamSpecification.StreamEnabled)
}

func hasStream(out *dynamodb.DescribeTableOutput) bool {
	return out != nil && out.Table != nil && out.Table.StreamSpecification != nil &&
		aws.ToBool(out.Table.StreamSpecification.StreamEnabled)
}

// cfnStreamSpecification is AWS::DynamoDB::Table StreamSpecification.
// CloudFormation has no StreamEnabled: declaring a view type turns the
// stream on. StreamEnabled is still read, because the API shape has it and
// a hand-written manifest may use it.
type cfnStreamSpecification struct {
	StreamViewType string `yaml:"StreamViewType"`
	StreamEnabled  *bool  `yaml:"StreamEnabled"`
}

func streamSpecification(m map[string]any) (*types.StreamSpecification, error) {
	if m == nil {
		return nil, nil
	}
	var s cfnStreamSpecification
	if err := decodeMap(m, &s); err != nil {
		return nil, err
	}
	enabled := s.StreamEnabled == nil || *s.StreamEnabled
	if !enabled {
		return &types.StreamSpecification{StreamEnabled: aws.Bool(false)}, nil
	}
	if s.StreamViewType == "" {
		return nil, errors.New("StreamViewType: required when the stream is enabled")
	}
	return &types.StreamSpecification{
		StreamEnabled:  aws.Bool(true),
		StreamViewType: types.StreamViewType(s.StreamViewType),
	}, nil
}

// cfnTimeToLive is AWS::DynamoDB::Table TimeToLiveSpecification.
type cfnTimeToLive struct {
	AttributeName string `yaml:"AttributeName"`
	Enabled       bool   `yaml:"Enabled"`
}

// timeToLive returns the UpdateTimeToLive specification, or nil when there
// is nothing to apply: a new table has time to live disabled already.
func timeToLive(m map[string]any) (*types.TimeToLiveSpecification, error) {
	if m == nil {
		return nil, nil
	}
	var ttl cfnTimeToLive
	if err := decodeMap(m, &ttl); err != nil {
		return nil, err
	}
	if !ttl.Enabled {
		return nil, nil
	}
	if ttl.AttributeName == "" {
		return nil, errors.New("AttributeName: required when Enabled is true")
	}
	return &types.TimeToLiveSpecification{
		AttributeName: aws.String(ttl.AttributeName),
		Enabled:       aws.Bool(true),
	}, nil
}
