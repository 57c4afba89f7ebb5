package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// keySet is the env's JWKS: RSA public keys by key id.
type keySet struct {
	keys map[string]*rsa.PublicKey
	only *rsa.PublicKey // the single key, for tokens without a kid
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
	Use string `json:"use"`
}

// lookup returns the key kid names, or the single key for a token that
// names none.
func (ks keySet) lookup(kid string) *rsa.PublicKey {
	if k := ks.keys[kid]; k != nil {
		return k
	}
	if kid == "" {
		return ks.only
	}
	return nil
}

// parseJWKS reads jwks.json ({"keys": [...]}, the form an issuer publishes
// at its jwks_uri). Keys other than RSA are skipped: tokens they signed
// are refused.
func parseJWKS(data []byte) (keySet, error) {
	ks := keySet{keys: map[string]*rsa.PublicKey{}}
	if len(strings.TrimSpace(string(data))) == 0 {
		return ks, nil
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return ks, fmt.Errorf("decode: %w", err)
	}
	for i, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil || len(e) > 4 {
			return ks, fmt.Errorf("keys[%d]: malformed n or e", i)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		ks.keys[k.Kid] = pub
		ks.only = pub
	}
	if len(ks.keys) != 1 {
		ks.only = nil
	}
	return ks, nil
}

// claims of a verified token.
type claims map[string]any

// jwt checks a bearer token as an HTTP API JWT authorizer or a REST Cognito
// authorizer does: signature by a key of jwks.json or, for a key id the
// file lacks, one the authorizer's issuer publishes (see discovery),
// issuer, audience (aud or client_id, JWT only), exp and nbf, and the
// route's scopes.
func (e *Enforcer) jwt(ctx context.Context, req Request, az *runtimeconfig.Authorizer) (Decision, error) {
	unauthorized := refuse(http.StatusUnauthorized, bodyUnauthorized)
	ids, ok := identity(req.HTTP, az.IdentitySources)
	if !ok || len(ids) == 0 {
		return unauthorized, nil
	}
	token := ids[0]
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	ks, err := e.jwks.get()
	if err != nil {
		return refuse(http.StatusInternalServerError, bodyHTTPError), fmt.Errorf("jwks: %w", err)
	}
	key := func(kid string) *rsa.PublicKey {
		if k := ks.lookup(kid); k != nil {
			return k
		}
		return e.discovery.key(ctx, az.Issuer, kid)
	}
	c, err := verify(token, key, e.opts.Now())
	if err != nil {
		e.opts.Logger.Debug("jwt refused", "authorizer", az.Name, "reason", err.Error())
		return unauthorized, nil
	}
	if iss, _ := c["iss"].(string); iss != az.Issuer {
		return unauthorized, nil
	}
	if az.Type == runtimeconfig.AuthorizerJWT && !audienceOK(c, az.Audience) {
		return unauthorized, nil
	}
	scopes := strings.Fields(stringClaim(c, "scope"))
	if len(az.Scopes) > 0 && !slices.ContainsFunc(az.Scopes, func(s string) bool { return slices.Contains(scopes, s) }) {
		if az.Type == runtimeconfig.AuthorizerCognito {
			return unauthorized, nil
		}
		return refuse(http.StatusForbidden, bodyForbidden), nil
	}
	// Both APIs hand the claims on as strings.
	flat := make(map[string]string, len(c))
	for k := range c {
		flat[k] = stringClaim(c, k)
	}
	var out any = map[string]any{"claims": flat}
	if az.Type == runtimeconfig.AuthorizerJWT {
		var sc any // null when the token grants none, as AWS sends it
		if len(scopes) > 0 {
			sc = scopes
		}
		out = map[string]any{"jwt": map[string]any{"claims": flat, "scopes": sc}}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return refuse(http.StatusInternalServerError, bodyHTTPError), fmt.Errorf("claims: %w", err)
	}
	return Decision{Context: raw}, nil
}

func stringClaim(c claims, k string) string {
	switch v := c[k].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v) // decoded from JSON: it encodes again
		return string(b)
	}
}

func audienceOK(c claims, want []string) bool {
	var got []string
	switch v := c["aud"].(type) {
	case string:
		got = append(got, v)
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok {
				got = append(got, s)
			}
		}
	}
	// Cognito access tokens carry the app client in client_id instead.
	if s, ok := c["client_id"].(string); ok {
		got = append(got, s)
	}
	for _, w := range want {
		if slices.Contains(got, w) {
			return true
		}
	}
	return false
}

var hashes = map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}

// verify checks a compact JWS and its time claims and returns its claims.
func verify(token string, keyOf func(kid string) *rsa.PublicKey, now time.Time) (claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h, ok := hashes[hdr.Alg]
	if !ok {
		return nil, fmt.Errorf("unsupported alg %q", hdr.Alg)
	}
	key := keyOf(hdr.Kid)
	if key == nil {
		return nil, fmt.Errorf("no key %q in jwks.json or published by the issuer", hdr.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	hw := h.New()
	hw.Write([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, h, hw.Sum(nil), sig); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	exp, ok := numClaim(c, "exp")
	if !ok || !now.Before(time.Unix(exp, 0)) {
		return nil, errors.New("expired or no exp")
	}
	if nbf, ok := numClaim(c, "nbf"); ok && now.Before(time.Unix(nbf, 0)) {
		return nil, errors.New("not valid yet")
	}
	return c, nil
}

func numClaim(c claims, k string) (int64, bool) {
	n, ok := c[k].(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	return int64(f), err == nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v)
}
