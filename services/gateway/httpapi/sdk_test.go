package httpapi

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// TestAWSSDKInvoke points aws-sdk-go-v2's Lambda client at the gateway:
// what application code does to call a function works unchanged.
func TestAWSSDKInvoke(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{invoker: lambdainvoke.Options{MaxQueueWait: 10 * time.Millisecond}})
	client := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(h.http.URL),
		HTTPClient:       h.http.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1, // a throttle must surface, not be retried away
	})
	h.function("Hello", answer(200, nil, `{"greeting":"hi"}`))
	h.function("Items", answer(200, nil, `{"errorMessage":"boom","errorType":"Error"}`))

	tests := []struct {
		name            string
		input           lambda.InvokeInput
		wantStatus      int32
		wantPayload     string
		wantFunctionErr string
	}{
		{
			name:       "RequestResponse by name",
			input:      lambda.InvokeInput{FunctionName: aws.String("Hello"), Payload: []byte(`{"a":1}`)},
			wantStatus: 200, wantPayload: `{"greeting":"hi"}`,
		},
		{
			name:       "by ARN with qualifier",
			input:      lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:Hello"), Qualifier: aws.String("$LATEST")},
			wantStatus: 200, wantPayload: `{"greeting":"hi"}`,
		},
		{
			name:       "function error",
			input:      lambda.InvokeInput{FunctionName: aws.String("Items")},
			wantStatus: 200, wantPayload: `{"errorMessage":"boom","errorType":"Error"}`, wantFunctionErr: "Unhandled",
		},
		{
			name:       "Event",
			input:      lambda.InvokeInput{FunctionName: aws.String("Hello"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)},
			wantStatus: 202,
		},
		{
			name:       "DryRun",
			input:      lambda.InvokeInput{FunctionName: aws.String("Hello"), InvocationType: types.InvocationTypeDryRun},
			wantStatus: 204,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.Invoke(t.Context(), &tt.input)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, out.StatusCode)
			assert.Equal(t, tt.wantPayload, string(out.Payload))
			assert.Equal(t, tt.wantFunctionErr, aws.ToString(out.FunctionError))
			if tt.wantStatus == 200 {
				assert.Equal(t, "$LATEST", aws.ToString(out.ExecutedVersion))
			}
		})
	}

	t.Run("unknown function", func(t *testing.T) {
		_, err := client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("Nope")})
		var nf *types.ResourceNotFoundException
		require.True(t, errors.As(err, &nf), "got %v", err)
		assert.Equal(t, "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope", aws.ToString(nf.Message))
		assert.Equal(t, "User", aws.ToString(nf.Type))
	})

	t.Run("throttled", func(t *testing.T) {
		g := newGate(`"ok"`)
		h.function("Limited", g.handler)
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("Limited")})
			assert.NoError(t, err)
		})
		<-g.entered
		_, err := client.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("Limited")})
		var tm *types.TooManyRequestsException
		require.True(t, errors.As(err, &tm), "got %v", err)
		assert.Equal(t, types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded, tm.Reason)
		assert.Equal(t, "Rate Exceeded.", aws.ToString(tm.Message))
		close(g.open)
		wg.Wait()
	})
}
