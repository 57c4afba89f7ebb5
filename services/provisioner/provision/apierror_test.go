package provision

import (
	"context"
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sdkError wraps err the way the SDK does for a response with status.
func sdkError(status int, err error) error {
	return &smithy.OperationError{
		ServiceID:     "DynamoDB",
		OperationName: "CreateTable",
		Err: &awshttp.ResponseError{
			RequestID: "REQ123",
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      err,
			},
		},
	}
}

func TestConcise(t *testing.T) {
	validation := &smithy.GenericAPIError{Code: "ValidationException", Message: "Value 'SORT' at 'keySchema.1.member.keyType' failed"}
	tests := []struct {
		name     string
		err      error
		want     string
		wantSame bool
	}{
		{
			name: "service refusal keeps code, status and message",
			err:  sdkError(400, validation),
			want: "ValidationException (HTTP 400): Value 'SORT' at 'keySchema.1.member.keyType' failed",
		},
		{
			name: "modeled error without a message",
			err:  sdkError(404, &dbtypes.ResourceNotFoundException{}),
			want: "ResourceNotFoundException (HTTP 404)",
		},
		{name: "network errors stay as they are", err: errors.New("dial tcp 127.0.0.1:1: connection refused"), wantSame: true},
		{name: "context errors stay as they are", err: context.DeadlineExceeded, wantSame: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := concise(tt.err)
			if tt.wantSame {
				assert.Equal(t, tt.err, got)
				return
			}
			assert.EqualError(t, got, tt.want)
			assert.NotContains(t, got.Error(), "REQ123")
			assert.ErrorIs(t, got, tt.err, "the SDK error stays reachable")
		})
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		notImplemented bool
		rejected       bool
	}{
		{name: "none", err: nil},
		{name: "NotImplemented code", err: sdkError(501, &smithy.GenericAPIError{Code: "NotImplemented"}), notImplemented: true, rejected: true},
		{name: "501 without a code the SDK knows", err: sdkError(501, &smithy.GenericAPIError{Code: "NotImplementedYet"}), notImplemented: true, rejected: true},
		{name: "unknown operation is a refusal, not NotImplemented", err: sdkError(400, &smithy.GenericAPIError{Code: "UnknownOperationException"}), rejected: true},
		{name: "network error is neither", err: errors.New("connection reset")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.notImplemented, notImplemented(tt.err))
			_, rejected := rejectedByBackend(tt.err)
			assert.Equal(t, tt.rejected, rejected)
		})
	}
}

func TestBucketExistsReadsNotFoundForms(t *testing.T) {
	tests := []struct {
		name    string
		headErr error
		want    bool
		wantErr bool
	}{
		{name: "404 without a body", headErr: sdkError(404, &smithy.GenericAPIError{Code: "NotFound"}), want: false},
		{name: "NoSuchBucket", headErr: sdkError(404, &smithy.GenericAPIError{Code: "NoSuchBucket"}), want: false},
		{name: "forbidden is an error, not absence", headErr: sdkError(403, &smithy.GenericAPIError{Code: "Forbidden"}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s3 := newFakeS3()
			s3.headErr["b"] = tt.headErr
			got, err := New(newFakeDynamoDB(), s3, Options{}).bucketExists(t.Context(), "b")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
