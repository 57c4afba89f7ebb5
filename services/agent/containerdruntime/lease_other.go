//go:build !linux

package containerdruntime

import (
	"errors"
	"os"
)

// openForWriting cannot tell outside Linux; callers fall back to waiting
// for the file to stay quiet.
func openForWriting(*os.File) (bool, error) {
	return false, errors.ErrUnsupported
}
