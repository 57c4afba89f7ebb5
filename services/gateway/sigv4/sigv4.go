// Package sigv4 verifies AWS Signature Version 4 on incoming requests, the
// way AWS's front ends do before a call reaches Lambda's Invoke API or an
// API Gateway route with AWS_IAM authorization: the Authorization header
// (or the presigned query form), the credential scope, the clock skew and
// the body hash, then the signature recomputed from the signing key of the
// access key the request names and compared in constant time.
//
// Use:
//
//	v := sigv4.New(keys, region, sigv4.Options{})
//	id, err := v.Verify(r, sigv4.ServiceLambda) // r.Body stays readable
//
// or wrap a handler with v.Middleware and read sigv4.IdentityFrom(ctx).
// Errors are *Error values carrying AWS's error type and message; match
// them with errors.Is against the Err* sentinels.
package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Services a request may be signed for.
const (
	ServiceLambda     = "lambda"      // the Lambda Invoke API
	ServiceExecuteAPI = "execute-api" // API Gateway routes with AWS_IAM
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Defaults for the zero values of Options.
const (
	// DefaultMaxSkew is how far X-Amz-Date may be from the verifier's
	// clock: Lambda answers "Signature expired ... (… - 5 min.)" past it.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxBodyBytes bounds the body read to hash it: Lambda's
	// synchronous payload limit (6 MB) with room for the encoding.
	DefaultMaxBodyBytes = 6*1024*1024 + 1024
)

// maxPresignExpiry is the longest X-Amz-Expires AWS accepts (7 days).
const maxPresignExpiry = 7 * 24 * time.Hour

// Identity is who signed a request.
type Identity struct {
	// AccessKeyID is the access key the request was signed with.
	AccessKeyID string
	// Function is the function whose own key signed it (see
	// awsid.FunctionKey); "" for the env's root key.
	Function string
}

// Root reports whether the env's root key signed the request.
func (id Identity) Root() bool { return id.Function == "" }

// Keys finds the secret of an access key id. ok is false for a key it
// does not know.
type Keys interface {
	Secret(accessKeyID string) (secret string, id Identity, ok bool)
}

// Options tunes a Verifier. The zero value is ready to use.
type Options struct {
	Now          func() time.Time // time.Now when nil
	MaxSkew      time.Duration    // DefaultMaxSkew when zero
	MaxBodyBytes int64            // DefaultMaxBodyBytes when zero
}

// Verifier checks signatures against Keys for one region. It is safe for
// concurrent use.
type Verifier struct {
	keys   Keys
	region string
	opts   Options
}

// New returns a Verifier that accepts requests signed for region with a
// key of keys.
func New(keys Keys, region string, opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = DefaultMaxSkew
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Verifier{keys: keys, region: region, opts: opts}
}

// Region is the region requests must be signed for.
func (v *Verifier) Region() string { return v.region }

// Error is a refused signature: Type is AWS's error type (what AWS sends
// in x-amzn-ErrorType) and Message its message.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Is matches the sentinel of the same Type.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type && t.Message == ""
}

// Sentinels for errors.Is, one per AWS error type.
var (
	// ErrMissingToken: the request carries no signature at all.
	ErrMissingToken = &Error{Type: "MissingAuthenticationTokenException"}
	// ErrIncomplete: the Authorization header or presigned query is malformed.
	ErrIncomplete = &Error{Type: "IncompleteSignatureException"}
	// ErrUnknownKey: the access key is not one of the env's.
	ErrUnknownKey = &Error{Type: "UnrecognizedClientException"}
	// ErrSignature: wrong scope, expired, tampered or wrongly signed.
	ErrSignature = &Error{Type: "InvalidSignatureException"}
)

// ErrBodyTooLarge reports a body over Options.MaxBodyBytes: it cannot be
// hashed, so the request is refused before its signature is checked.
var ErrBodyTooLarge = errors.New("request body too large to verify")

// AWS's messages.
const (
	msgMissingToken = "Missing Authentication Token"
	msgUnknownKey   = "The security token included in the request is invalid."
	msgMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

func refuse(proto *Error, format string, args ...any) *Error {
	return &Error{Type: proto.Type, Message: fmt.Sprintf(format, args...)}
}

// signed is what a request says about its signature.
type signed struct {
	accessKeyID   string
	date          string // scope date, YYYYMMDD
	region        string
	service       string
	terminator    string
	signedHeaders []string
	signature     string
	amzDate       string // ISO 8601 basic: 20150830T123600Z
	presigned     bool
	expires       time.Duration // presigned only
}

func (s *signed) scope() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + s.terminator
}

// Verify checks r's signature for service and returns who signed it. The
// body is read (bounded by Options.MaxBodyBytes) to check its hash and put
// back, so the handler reads it as sent.
func (v *Verifier) Verify(r *http.Request, service string) (Identity, error) {
	s, err := parse(r)
	if err != nil {
		return Identity{}, err
	}
	secret, id, ok := v.keys.Secret(s.accessKeyID)
	if !ok {
		return Identity{}, &Error{Type: ErrUnknownKey.Type, Message: msgUnknownKey}
	}
	if err := v.checkScope(s, service); err != nil {
		return Identity{}, err
	}
	body, err := readBody(r, v.opts.MaxBodyBytes)
	if err != nil {
		return Identity{}, err
	}
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != bodyHash {
		// The signature covers the header, not the body: a body swapped
		// under a kept header would otherwise pass.
		return Identity{}, refuse(ErrSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	creq := canonicalRequest(r, s, bodyHash)
	sts := stringToSign(s, creq)
	want := signature(signingKey(secret, s.date, s.region, s.service), sts)
	if !hmac.Equal([]byte(want), []byte(s.signature)) {
		return Identity{}, refuse(ErrSignature, "%s\n\nThe Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n", msgMismatch, creq, sts)
	}
	id.AccessKeyID = s.accessKeyID
	return id, nil
}

// checkScope compares the credential scope and the signing time with what
// this verifier accepts, with AWS's messages.
func (v *Verifier) checkScope(s *signed, service string) error {
	t, err := time.Parse(amzDateLayout, s.amzDate)
	if err != nil {
		return refuse(ErrIncomplete, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.amzDate)
	}
	switch {
	case s.terminator != "aws4_request":
		return refuse(ErrSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", s.terminator)
	case s.service != service:
		return refuse(ErrSignature, "Credential should be scoped to correct service: '%s'. ", service)
	case s.region != v.region:
		return refuse(ErrSignature, "Credential should be scoped to a valid region. ")
	case s.date != s.amzDate[:8]:
		return refuse(ErrSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", s.date, s.amzDate[:8], s.amzDate)
	}
	now := v.opts.Now().UTC()
	skew := v.opts.MaxSkew
	mins := int(skew / time.Minute)
	if t.After(now.Add(skew)) {
		return refuse(ErrSignature, "Signature not yet current: %s is still later than %s (%s + %d min.)",
			s.amzDate, now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), mins)
	}
	if s.presigned {
		if now.After(t.Add(s.expires)) {
			return refuse(ErrSignature, "Signature expired: %s is now earlier than %s (%s + %d s.)",
				t.Add(s.expires).Format(amzDateLayout), now.Format(amzDateLayout), s.amzDate, int(s.expires/time.Second))
		}
		return nil
	}
	if t.Before(now.Add(-skew)) {
		return refuse(ErrSignature, "Signature expired: %s is now earlier than %s (%s - %d min.)",
			s.amzDate, now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), mins)
	}
	return nil
}

const amzDateLayout = "20060102T150405Z"

// parse reads the signature from the Authorization header or, failing
// that, from a presigned URL's query.
func parse(r *http.Request) (*signed, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parseHeader(r, auth)
	}
	if r.URL.Query().Has("X-Amz-Signature") || r.URL.Query().Has("X-Amz-Credential") {
		return parseQuery(r)
	}
	return nil, &Error{Type: ErrMissingToken.Type, Message: msgMissingToken}
}

// parseHeader reads `AWS4-HMAC-SHA256 Credential=<key>/<scope>,
// SignedHeaders=<a;b>, Signature=<hex>`.
func parseHeader(r *http.Request, auth string) (*signed, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if alg != Algorithm {
		// AWS parses whatever follows as key=value pairs and fails there.
		return nil, refuse(ErrIncomplete, "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '%s'.", hashForMessage(auth))
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, refuse(ErrIncomplete, "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '%s'.", hashForMessage(auth))
		}
		fields[k] = val
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
			amzDate = d.UTC().Format(amzDateLayout)
		} else {
			missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
	}
	if len(missing) > 0 {
		return nil, refuse(ErrIncomplete, "%s Authorization=%s", strings.Join(missing, " "), hashForMessage(auth))
	}
	s := &signed{signature: fields["Signature"], amzDate: amzDate}
	if err := s.setCredential(fields["Credential"]); err != nil {
		return nil, err
	}
	s.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	return s, s.checkSignedHeaders(r, false)
}

// parseQuery reads the presigned form: X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.
func parseQuery(r *http.Request) (*signed, error) {
	q := r.URL.Query()
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date", "X-Amz-Expires"} {
		if q.Get(k) == "" {
			missing = append(missing, fmt.Sprintf("AWS query-string parameters must include '%s'.", k))
		}
	}
	if len(missing) > 0 {
		return nil, refuse(ErrIncomplete, "%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	if q.Get("X-Amz-Algorithm") != Algorithm {
		return nil, refuse(ErrIncomplete, "X-Amz-Algorithm only supports \"%s\"", Algorithm)
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 0 || time.Duration(secs)*time.Second > maxPresignExpiry {
		return nil, refuse(ErrIncomplete, "X-Amz-Expires must be a non-negative integer of seconds, at most %d", int(maxPresignExpiry/time.Second))
	}
	s := &signed{signature: q.Get("X-Amz-Signature"), amzDate: q.Get("X-Amz-Date"), presigned: true, expires: time.Duration(secs) * time.Second}
	if err := s.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	s.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	return s, s.checkSignedHeaders(r, true)
}

// setCredential splits <access key>/<date>/<region>/<service>/<terminator>.
func (s *signed) setCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return refuse(ErrIncomplete, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", cred)
	}
	s.accessKeyID, s.date, s.region, s.service, s.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	return nil
}

// checkSignedHeaders insists on what AWS insists on: host signed, and
// X-Amz-Date too when the date comes from it, so neither can be replayed
// against another host or time.
func (s *signed) checkSignedHeaders(r *http.Request, presigned bool) error {
	has := func(name string) bool {
		for _, h := range s.signedHeaders {
			if h == name {
				return true
			}
		}
		return false
	}
	for i, h := range s.signedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && s.signedHeaders[i-1] >= h) {
			return refuse(ErrIncomplete, "SignedHeaders must be lower-case header names, sorted and separated by ';', got '%s'", strings.Join(s.signedHeaders, ";"))
		}
	}
	if !has("host") {
		return refuse(ErrSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !presigned {
		if r.Header.Get("X-Amz-Date") != "" && !has("x-amz-date") {
			return refuse(ErrSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		if r.Header.Get("X-Amz-Date") == "" && !has("date") {
			return refuse(ErrSignature, "'Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
	}
	return nil
}

// hashForMessage is how AWS quotes a malformed Authorization header back
// without echoing the caller's secrets.
func hashForMessage(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// readBody reads the whole body for hashing and puts it back.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, ErrBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, ErrBodyTooLarge
	}
	_ = r.Body.Close() // drained; the handler reads the copy
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

func stringToSign(s *signed, creq string) string {
	sum := sha256.Sum256([]byte(creq))
	return Algorithm + "\n" + s.amzDate + "\n" + s.scope() + "\n" + hex.EncodeToString(sum[:])
}

// signingKey derives the key of one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func signature(key []byte, sts string) string { return hex.EncodeToString(hmacSHA256(key, sts)) }

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// identityKey is the context key of the verified Identity.
type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the Identity a verified request carries.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Middleware verifies every request for service before next runs, and
// puts the Identity in the request's context. A refused request goes to
// refuse with the error (an *Error, ErrBodyTooLarge, or a read error),
// which writes the answer of its front (Lambda's, API Gateway's).
func (v *Verifier) Middleware(service string, refuse func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := v.Verify(r, service)
			if err != nil {
				refuse(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}
