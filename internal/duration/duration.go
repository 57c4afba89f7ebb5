// Package duration parses the durations ESB's services read from their
// environment.
package duration

import (
	"fmt"
	"strconv"
	"time"
)

// Parse accepts a Go duration ("1s", "500ms") or plain seconds ("0.5"),
// the two forms people write for these variables.
func Parse(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (1s, 500ms) nor a number of seconds", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
