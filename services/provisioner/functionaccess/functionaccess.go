// Package functionaccess gives each function of an env its own account on
// the env's S3 service, under the access key pair the agent hands that
// function (awsid.FunctionKey), and lets those accounts use the env's
// buckets. The S3 service is versitygw with its internal IAM: accounts are
// made through its admin API (signed with the root key, which only the
// provisioner holds), bucket access through bucket policies naming each
// function's access key as a principal.
//
// Today every function of the env may use every bucket of the env, as it
// could with the shared root key: the policy of each bucket lists every
// function. The grant is per function and per bucket, so a later change
// can narrow it to what a function's SAM Policies allow.
package functionaccess

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/esb-dev/esb/internal/awsid"
)

// Role is the versitygw role of a function account: "userplus" may create
// buckets of its own (as a function could with the root key before) and
// uses others' buckets only where their policy lets it.
const Role = "userplus"

// callTimeout bounds one admin call.
const callTimeout = 15 * time.Second

// maxBody bounds an admin answer read into memory.
const maxBody = 1 << 20

// Admin is versitygw's admin API (PATCH /create-user, /update-user on the
// S3 port), signed with the root key.
type Admin struct {
	Endpoint string // base URL of the S3 service, e.g. http://s3-storage:7070
	Region   string
	Root     awsid.Key
	HTTP     *http.Client // nil: http.DefaultClient
}

// account is versitygw's auth.Account as its admin API reads it (XML,
// element names as the Go field names).
type account struct {
	XMLName xml.Name `xml:"Account"`
	Access  string   `xml:"Access"`
	Secret  string   `xml:"Secret"`
	Role    string   `xml:"Role"`
}

// mutableProps is versitygw's auth.MutableProps, for update-user.
type mutableProps struct {
	XMLName xml.Name `xml:"MutableProps"`
	Secret  string   `xml:"Secret"`
	Role    string   `xml:"Role"`
}

// EnsureAccount makes key an account of the S3 service with Role: created,
// or, when it exists, given key's secret and Role again (a root secret
// changed since, or a role edited by hand). It reports whether it created
// the account.
func (a *Admin) EnsureAccount(ctx context.Context, key awsid.Key) (created bool, err error) {
	body, err := xml.Marshal(account{Access: key.AccessKeyID, Secret: key.SecretAccessKey, Role: Role})
	if err != nil {
		return false, fmt.Errorf("account %s: %w", key.AccessKeyID, err)
	}
	status, answer, err := a.call(ctx, "/create-user", body)
	if err != nil {
		return false, fmt.Errorf("create account %s: %w", key.AccessKeyID, err)
	}
	switch {
	case status < 300:
		return true, nil
	case status != http.StatusConflict:
		return false, fmt.Errorf("create account %s: %d %s", key.AccessKeyID, status, errorCode(answer))
	}
	body, err = xml.Marshal(mutableProps{Secret: key.SecretAccessKey, Role: Role})
	if err != nil {
		return false, fmt.Errorf("account %s: %w", key.AccessKeyID, err)
	}
	status, answer, err = a.call(ctx, "/update-user?access="+url.QueryEscape(key.AccessKeyID), body)
	if err != nil {
		return false, fmt.Errorf("update account %s: %w", key.AccessKeyID, err)
	}
	if status >= 300 {
		return false, fmt.Errorf("update account %s: %d %s", key.AccessKeyID, status, errorCode(answer))
	}
	return false, nil
}

// call sends one signed PATCH to the admin API.
func (a *Admin) call(ctx context.Context, path string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, strings.TrimSuffix(a.Endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	creds := aws.Credentials{AccessKeyID: a.Root.AccessKeyID, SecretAccessKey: a.Root.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payload, "s3", a.Region, time.Now()); err != nil {
		return 0, nil, fmt.Errorf("sign: %w", err)
	}
	hc := a.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

// errorCode is the Code of an S3-style XML error, else the body's start.
func errorCode(body []byte) string {
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &e) == nil && e.Code != "" {
		return strings.TrimSpace(e.Code + ": " + e.Message)
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

// PolicyPutter is the part of the S3 client Grant uses.
type PolicyPutter interface {
	PutBucketPolicy(ctx context.Context, in *s3.PutBucketPolicyInput, opts ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
}

// Policy is the bucket policy that lets each of accessKeys use bucket and
// its objects, one statement per function, so narrowing one function's
// grant later touches nothing of the others.
func Policy(bucket string, accessKeys []string) ([]byte, error) {
	type statement struct {
		Sid       string
		Effect    string
		Principal map[string][]string
		Action    string
		Resource  []string
	}
	doc := struct {
		Version   string
		Statement []statement
	}{Version: "2012-10-17"}
	for _, k := range slices.Sorted(slices.Values(accessKeys)) {
		doc.Statement = append(doc.Statement, statement{
			Sid:       "Function" + k,
			Effect:    "Allow",
			Principal: map[string][]string{"AWS": {k}},
			Action:    "s3:*",
			Resource:  []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		})
	}
	return json.Marshal(doc)
}

// Grant puts bucket's policy: each of accessKeys may use it. No keys: no
// policy is put (the bucket stays its owner's alone).
func Grant(ctx context.Context, s3c PolicyPutter, bucket string, accessKeys []string) error {
	if len(accessKeys) == 0 {
		return nil
	}
	doc, err := Policy(bucket, accessKeys)
	if err != nil {
		return fmt.Errorf("bucket %s policy: %w", bucket, err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(doc))}); err != nil {
		return fmt.Errorf("bucket %s policy: %w", bucket, err)
	}
	return nil
}

// Result is what Run did.
type Result struct {
	Created, Updated int      // accounts
	Buckets          []string // buckets whose policy now lists every function
}

// Run gives every function of functions its own account (its key derived
// from rootSecret) and lets all of them use every bucket of buckets.
func Run(ctx context.Context, admin *Admin, s3c PolicyPutter, rootSecret string, functions, buckets []string) (Result, error) {
	var res Result
	var keys []string
	var errs []error
	for _, fn := range slices.Sorted(slices.Values(functions)) {
		key := awsid.FunctionKey(rootSecret, fn)
		created, err := admin.EnsureAccount(ctx, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", fn, err))
			continue
		}
		if created {
			res.Created++
		} else {
			res.Updated++
		}
		keys = append(keys, key.AccessKeyID)
	}
	for _, b := range buckets {
		if err := Grant(ctx, s3c, b, keys); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Buckets = append(res.Buckets, b)
	}
	return res, errors.Join(errs...)
}
