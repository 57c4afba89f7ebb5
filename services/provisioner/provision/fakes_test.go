package provision

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeDynamoDB is an in-memory DynamoDB that creates tables in CREATING
// state and turns them ACTIVE after a set number of DescribeTable polls.
type fakeDynamoDB struct {
	mu sync.Mutex
	// tables holds the status of every table that exists.
	tables map[string]dbtypes.TableStatus
	// pollsUntilActive is how many DescribeTable calls see a new table
	// CREATING before it turns ACTIVE; -1 keeps it CREATING forever.
	pollsUntilActive int
	polls            map[string]int
	// keepsStreams makes DescribeTable echo the StreamSpecification of
	// CreateTable, as DynamoDB does and dynalite does not.
	keepsStreams bool

	describeErr map[string]error
	createErr   map[string]error
	ttlErr      error

	created []*dynamodb.CreateTableInput
	ttl     []*dynamodb.UpdateTimeToLiveInput
	streams map[string]*dbtypes.StreamSpecification
}

func newFakeDynamoDB(existing ...string) *fakeDynamoDB {
	f := &fakeDynamoDB{
		tables:      map[string]dbtypes.TableStatus{},
		polls:       map[string]int{},
		describeErr: map[string]error{},
		createErr:   map[string]error{},
		streams:     map[string]*dbtypes.StreamSpecification{},
	}
	for _, name := range existing {
		f.tables[name] = dbtypes.TableStatusActive
	}
	return f
}

func (f *fakeDynamoDB) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.TableName)
	if err := f.describeErr[name]; err != nil {
		return nil, err
	}
	status, ok := f.tables[name]
	if !ok {
		return nil, &dbtypes.ResourceNotFoundException{Message: aws.String("Requested resource not found: Table: " + name + " not found")}
	}
	if status == dbtypes.TableStatusCreating && f.pollsUntilActive >= 0 {
		f.polls[name]++
		if f.polls[name] > f.pollsUntilActive {
			status = dbtypes.TableStatusActive
			f.tables[name] = status
		}
	}
	return &dynamodb.DescribeTableOutput{Table: &dbtypes.TableDescription{
		TableName:           in.TableName,
		TableStatus:         status,
		StreamSpecification: f.streams[name],
	}}, nil
}

func (f *fakeDynamoDB) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.TableName)
	f.created = append(f.created, in)
	if err := f.createErr[name]; err != nil {
		return nil, err
	}
	if _, ok := f.tables[name]; ok {
		return nil, &dbtypes.ResourceInUseException{Message: aws.String("Table already exists: " + name)}
	}
	f.tables[name] = dbtypes.TableStatusCreating
	if f.keepsStreams {
		f.streams[name] = in.StreamSpecification
	}
	return &dynamodb.CreateTableOutput{}, nil
}

func (f *fakeDynamoDB) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl = append(f.ttl, in)
	if f.ttlErr != nil {
		return nil, f.ttlErr
	}
	return &dynamodb.UpdateTimeToLiveOutput{TimeToLiveSpecification: in.TimeToLiveSpecification}, nil
}

func (f *fakeDynamoDB) createdNames() []string {
	var names []string
	for _, in := range f.created {
		names = append(names, aws.ToString(in.TableName))
	}
	return names
}

// fakeS3 is an in-memory S3 bucket namespace.
type fakeS3 struct {
	mu      sync.Mutex
	buckets map[string]bool

	headErr      map[string]error
	createErr    map[string]error
	lifecycleErr error

	created   []*s3.CreateBucketInput
	lifecycle []*s3.PutBucketLifecycleConfigurationInput
}

func newFakeS3(existing ...string) *fakeS3 {
	f := &fakeS3{buckets: map[string]bool{}, headErr: map[string]error{}, createErr: map[string]error{}}
	for _, name := range existing {
		f.buckets[name] = true
	}
	return f
}

func (f *fakeS3) HeadBucket(_ context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.Bucket)
	if err := f.headErr[name]; err != nil {
		return nil, err
	}
	if !f.buckets[name] {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadBucketOutput{}, nil
}

func (f *fakeS3) CreateBucket(_ context.Context, in *s3.CreateBucketInput, _ ...func(*s3.Options)) (*s3.CreateBucketOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.Bucket)
	f.created = append(f.created, in)
	if err := f.createErr[name]; err != nil {
		return nil, err
	}
	if f.buckets[name] {
		return nil, &s3types.BucketAlreadyOwnedByYou{}
	}
	f.buckets[name] = true
	return &s3.CreateBucketOutput{}, nil
}

func (f *fakeS3) PutBucketLifecycleConfiguration(_ context.Context, in *s3.PutBucketLifecycleConfigurationInput, _ ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lifecycle = append(f.lifecycle, in)
	if f.lifecycleErr != nil {
		return nil, f.lifecycleErr
	}
	return &s3.PutBucketLifecycleConfigurationOutput{}, nil
}

func (f *fakeS3) createdNames() []string {
	var names []string
	for _, in := range f.created {
		names = append(names, aws.ToString(in.Bucket))
	}
	return names
}
