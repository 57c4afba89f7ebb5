//go:build !linux

package containerdruntime

import "errors"

func holdNetns() (holder, error) { return nil, errors.ErrUnsupported }
