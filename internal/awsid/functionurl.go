package awsid

import (
	"crypto/sha256"
	"encoding/base32"
)

// urlIDAlphabet is base32 in lower case: 32 letters and digits, the
// characters of Lambda's url-ids.
const urlIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// FunctionURLID is the url-id of a function's URL, the first label of
// its host name (<url-id>.lambda-url.<region>.on.aws on AWS): 32 lower-case
// letters and digits, as Lambda's. It is derived, not stored, so the SAM
// parser (for Fn::GetAtt <Function>Url.FunctionUrl), the deploy and the
// gateway agree on it without sharing state; scope is the env's project
// name (AWS::StackName), so two envs give the same function different ids
// and one env gives it the same id at every deploy.
func FunctionURLID(scope, function string) string {
	sum := sha256.Sum256([]byte("esb-function-url\x00" + scope + "\x00" + function))
	// 20 bytes are 160 bits, 32 base32 characters with no padding.
	return base32.NewEncoding(urlIDAlphabet).WithPadding(base32.NoPadding).EncodeToString(sum[:20])
}
