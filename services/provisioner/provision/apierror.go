package provision

import (
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// apiErrorCode is the error code of a service's error response, or "" for
// any other error (network, context, none).
func apiErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of a service's error response, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// notImplemented reports whether the backend answered that it lacks the
// operation. The status is checked too because some S3 servers send 501
// with an empty body, which the SDK cannot turn into a code.
func notImplemented(err error) bool {
	return apiErrorCode(err) == "NotImplemented" || httpStatus(err) == http.StatusNotImplemented
}

// rejectedByBackend reports whether err is the service's own refusal, as
// opposed to a failure to reach it, and returns the service's words.
func rejectedByBackend(err error) (string, bool) {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return "", false
	}
	return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage(), true
}

// conciseError shows a service's refusal as "Code (HTTP n): message" instead
// of the SDK's full operation, request-ID and host-ID chain, which buries
// the one part a person acts on. The SDK error stays underneath for
// errors.As and errors.Is.
type conciseError struct {
	text string
	err  error
}

func (e *conciseError) Error() string { return e.text }
func (e *conciseError) Unwrap() error { return e.err }

// concise wraps a service's error response in a conciseError; other
// errors (network, context) are returned as they are.
func concise(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	text := apiErr.ErrorCode()
	if status := httpStatus(err); status != 0 {
		text += fmt.Sprintf(" (HTTP %d)", status)
	}
	if msg := apiErr.ErrorMessage(); msg != "" {
		text += ": " + msg
	}
	return &conciseError{text: text, err: err}
}
