package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// fileCache holds what a file the operator edits parses to, read again
// when its size or modification time changes, so a new key needs no
// restart. A missing file parses as empty: nothing is accepted.
type fileCache[T any] struct {
	path  string
	parse func([]byte) (T, error)

	mu    sync.Mutex
	mtime time.Time
	size  int64
	found bool
	val   T
	err   error
	init  bool
}

func newFileCache[T any](path string, parse func([]byte) (T, error)) *fileCache[T] {
	return &fileCache[T]{path: path, parse: parse}
}

func (f *fileCache[T]) get() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	found := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		var zero T
		return zero, fmt.Errorf("stat %s: %w", f.path, err)
	}
	if f.init && found == f.found && (!found || (st.ModTime().Equal(f.mtime) && st.Size() == f.size)) {
		return f.val, f.err
	}
	f.init, f.found = true, found
	var data []byte
	if found {
		f.mtime, f.size = st.ModTime(), st.Size()
		if data, err = os.ReadFile(f.path); err != nil {
			f.init = false
			var zero T
			return zero, fmt.Errorf("read %s: %w", f.path, err)
		}
	}
	f.val, f.err = f.parse(data)
	if f.err != nil {
		f.err = fmt.Errorf("%s: %w", f.path, f.err)
	}
	return f.val, f.err
}

// parseAPIKeys reads the api-keys file: one key per line, blank lines and
// lines starting with # ignored.
func parseAPIKeys(data []byte) (map[string]bool, error) {
	keys := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keys[line] = true
	}
	return keys, sc.Err()
}
