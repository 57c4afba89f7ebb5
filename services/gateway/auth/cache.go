package auth

import (
	"sync"
	"time"
)

// resultCache holds authorizer results by identity until their TTL ends,
// as API Gateway's authorizer cache does.
type resultCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cached
}

type cached struct {
	res     lambdaResult
	expires time.Time
}

func newResultCache(max int) *resultCache {
	return &resultCache{max: max, entries: map[string]cached{}}
}

func (c *resultCache) get(key string, now time.Time) (lambdaResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return lambdaResult{}, false
	}
	return e.res, true
}

func (c *resultCache) put(key string, res lambdaResult, expires time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			// Still full of live entries: start over rather than grow
			// without bound; the next requests ask their authorizers again.
			clear(c.entries)
		}
	}
	c.entries[key] = cached{res: res, expires: expires}
}
