package apigateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrMalformed is wrapped by the errors of ResponseV1 and ResponseV2 when a
// function's result is not a proxy response API Gateway would accept; API
// Gateway answers 502 then.
var ErrMalformed = errors.New("malformed Lambda proxy response")

// Response is the HTTP response a function's result maps to.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// rawResponse holds the fields of a proxy response undecoded, so each can
// be type-checked and reported on its own.
type rawResponse struct {
	StatusCode        json.RawMessage `json:"statusCode"`
	Headers           json.RawMessage `json:"headers"`
	MultiValueHeaders json.RawMessage `json:"multiValueHeaders"`
	Cookies           json.RawMessage `json:"cookies"`
	Body              json.RawMessage `json:"body"`
	IsBase64Encoded   json.RawMessage `json:"isBase64Encoded"`
}

// ResponseV1 maps a payload 1.0 result: an object with statusCode and
// optional headers, multiValueHeaders, body and isBase64Encoded. Where a
// header is in both maps, multiValueHeaders wins, as in API Gateway.
func ResponseV1(payload []byte) (Response, error) {
	var raw rawResponse
	if err := decodeObject(payload, &raw); err != nil {
		return Response{}, err
	}
	if raw.StatusCode == nil {
		return Response{}, fmt.Errorf("%w: statusCode missing", ErrMalformed)
	}
	return build(raw, true)
}

// ResponseV2 maps a payload 2.0 result. An object with statusCode is read
// like 1.0 plus cookies (each becomes a Set-Cookie header), without
// multiValueHeaders. Any other valid JSON is API Gateway's shortcut: 200,
// application/json, and the result as the body (a JSON string as its text,
// anything else as its JSON, per AWS's documented examples).
func ResponseV2(payload []byte) (Response, error) {
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return Response{}, fmt.Errorf("%w: result is not JSON", ErrMalformed)
	}
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if _, ok := probe["statusCode"]; ok {
			var raw rawResponse
			if err := decodeObject(trimmed, &raw); err != nil {
				return Response{}, err
			}
			raw.MultiValueHeaders = nil // not part of 2.0
			return build(raw, false)
		}
	}
	body := trimmed
	var s string
	if len(trimmed) > 0 && trimmed[0] == '"' && json.Unmarshal(trimmed, &s) == nil {
		body = []byte(s)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return Response{StatusCode: http.StatusOK, Header: h, Body: body}, nil
}

func decodeObject(payload []byte, raw *rawResponse) error {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("%w: result is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(trimmed, raw); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// build checks and assembles the fields; v1 allows multiValueHeaders, 2.0
// allows cookies.
func build(raw rawResponse, v1 bool) (Response, error) {
	var status int
	if err := json.Unmarshal(raw.StatusCode, &status); err != nil {
		return Response{}, fmt.Errorf("%w: statusCode: want an integer, got %s", ErrMalformed, raw.StatusCode)
	}
	if status < 100 || status > 599 {
		return Response{}, fmt.Errorf("%w: statusCode %d out of range", ErrMalformed, status)
	}
	h := http.Header{}
	if !isNull(raw.Headers) {
		var single map[string]string
		if err := json.Unmarshal(raw.Headers, &single); err != nil {
			return Response{}, fmt.Errorf("%w: headers: want an object of strings: %w", ErrMalformed, err)
		}
		for k, v := range single {
			h.Set(k, v)
		}
	}
	if v1 && !isNull(raw.MultiValueHeaders) {
		var multi map[string][]string
		if err := json.Unmarshal(raw.MultiValueHeaders, &multi); err != nil {
			return Response{}, fmt.Errorf("%w: multiValueHeaders: want an object of string lists: %w", ErrMalformed, err)
		}
		for k, vs := range multi {
			h.Del(k)
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	if !v1 && !isNull(raw.Cookies) {
		var cookies []string
		if err := json.Unmarshal(raw.Cookies, &cookies); err != nil {
			return Response{}, fmt.Errorf("%w: cookies: want a list of strings: %w", ErrMalformed, err)
		}
		for _, c := range cookies {
			h.Add("Set-Cookie", c)
		}
	}
	var b64 bool
	if !isNull(raw.IsBase64Encoded) {
		if err := json.Unmarshal(raw.IsBase64Encoded, &b64); err != nil {
			return Response{}, fmt.Errorf("%w: isBase64Encoded: want a boolean, got %s", ErrMalformed, raw.IsBase64Encoded)
		}
	}
	var body []byte
	if !isNull(raw.Body) {
		var s string
		if err := json.Unmarshal(raw.Body, &s); err != nil {
			return Response{}, fmt.Errorf("%w: body: want a string, got %s", ErrMalformed, truncate(raw.Body))
		}
		body = []byte(s)
		if b64 {
			dec, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return Response{}, fmt.Errorf("%w: body: invalid base64: %w", ErrMalformed, err)
			}
			body = dec
		}
	}
	if h.Get("Content-Type") == "" {
		// API Gateway answers application/json when the function names no type.
		h.Set("Content-Type", "application/json")
	}
	return Response{StatusCode: status, Header: h, Body: body}, nil
}

func isNull(m json.RawMessage) bool {
	return len(m) == 0 || string(m) == "null"
}

func truncate(m json.RawMessage) string {
	if len(m) > 64 {
		return string(m[:64]) + "..."
	}
	return string(m)
}
