package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// failure is why an invocation behind a route or a function URL produced
// no answer of its own, in the classes API Gateway and Lambda tell apart.
type failure int

const (
	// failFunction: the function ran and failed. An unhandled error, a
	// run past the function's own Timeout ("Task timed out"), a crash, a
	// result over Lambda's size limit: Lambda reports each as a function
	// error. A result that is no valid proxy response counts the same.
	failFunction failure = iota
	// failThrottled: Lambda refused to run it (TooManyRequestsException:
	// no concurrency slot, or no node memory, within the queue wait).
	failThrottled
	// failService: Lambda could not run it (ServiceException): ESB's
	// agent gave no container.
	failService
	// failTimeout: the route's integration timeout passed first.
	failTimeout
)

// API Gateway's own bodies, byte for byte. A REST API writes its Lambda
// failures with a space after the colon and a lower-case "server error"
// (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html;
// serverless-http#298 quotes the raw body); an HTTP API writes no space
// and "Server Error" (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html).
const (
	restInternal = `{"message": "Internal server error"}`
	// aws/context-ontology-accelerator#185 quotes the raw body.
	restTimedOut = `{"message": "Endpoint request timed out"}`
	httpInternal = `{"message":"Internal Server Error"}`
	// cortexlabs/cortex#1225 shows the raw answer: 503, 33 bytes.
	httpUnavailable = `{"message":"Service Unavailable"}`
	// A function URL answers a function error with plain text, not JSON
	// (LocalStack's AWS-validated test_lambda_url_invocation_exception;
	// aws-lambda-developer-guide#430). Its Content-Type is not
	// documented: text/plain, as the body is.
	urlFunctionError = "Internal Server Error"
	// What AWS answers here is not documented; these are ESB's earlier
	// answers, kept: a function URL's throttle and service failure.
	urlThrottled    = `{"message":"Too Many Requests"}`
	urlServiceError = `{"message":"Internal server error"}`
)

// frontOf is the front whose failures a route of kind answers.
func frontOf(kind string) front {
	if kind == runtimeconfig.KindHTTP {
		return frontHTTPAPI
	}
	return frontREST
}

// failureAnswer is what front answers for f:
//
//	               REST API    HTTP API   function URL
//	failFunction   502         500        502 (text)
//	failThrottled  500         500        429
//	failService    500         500        502
//	failTimeout    504         503        -
//
// A REST API answers 502 when the function ran and failed and 500 when
// Lambda refused the invocation, throttling included: it never passes
// Lambda's 429 on (docs page above: "If the Lambda API rejects the
// invocation request, API Gateway returns a 500"; an AWS engineer on
// stackoverflow.com/questions/36363280: "There is no way to map Lambda's
// 429 ... It will always be considered as 500"). An HTTP API answers 500
// for every integration failure: function errors and timeouts
// (theam/aws-lambda-haskell-runtime#105 logs status 500 for an Unhandled
// error, denoland/deno_registry2#87 a function timeout), invocations
// Lambda refuses (knowledge-center/api-gateway-http-lambda-integrations:
// "Internal Server Error" when the invocation is not permitted). No
// public report shows an HTTP API route of a throttled function; it is
// answered as Lambda's other refusals are.
func failureAnswer(front front, f failure) (status int, contentType, body string) {
	const json = echo.MIMEApplicationJSON
	switch front {
	case frontHTTPAPI:
		if f == failTimeout {
			return http.StatusServiceUnavailable, json, httpUnavailable
		}
		return http.StatusInternalServerError, json, httpInternal
	case frontURL:
		switch f {
		case failThrottled:
			return http.StatusTooManyRequests, json, urlThrottled
		case failService:
			return http.StatusBadGateway, json, urlServiceError
		}
		// A function URL has no integration timeout: failTimeout does
		// not reach here.
		return http.StatusBadGateway, echo.MIMETextPlainCharsetUTF8, urlFunctionError
	}
	switch f {
	case failFunction:
		return http.StatusBadGateway, json, restInternal
	case failTimeout:
		return http.StatusGatewayTimeout, json, restTimedOut
	}
	return http.StatusInternalServerError, json, restInternal
}

// writeFailure answers the request with front's answer for f.
func writeFailure(c echo.Context, front front, f failure) error {
	status, contentType, body := failureAnswer(front, f)
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(status, contentType, []byte(body))
}
