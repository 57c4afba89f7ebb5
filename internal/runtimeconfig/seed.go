package runtimeconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/esb-dev/esb/internal/atomicdir"
)

// NoConfigWarning is logged, and returned in SeedResult.Warnings, whenever
// Seed leaves a config without functions: nothing has been deployed to the
// env yet, and every request will 404 until something is.
const NoConfigWarning = "WARNING: No runtime config found. Using empty config. Deploy required."

// SeedOptions tunes Seed. The zero value is ready to use.
type SeedOptions struct {
	Lock   LockOptions
	Logger *slog.Logger // nil discards
}

// SeedResult tells where each file of the seeded config dir came from.
type SeedResult struct {
	Config   Config   // what the config dir now holds
	Kept     []string // file names already present, used as they are
	Copied   []string // file names copied from the seed dir
	Created  []string // file names written in their empty form
	Warnings []string // NoConfigWarning when Config has no functions
}

// Seed prepares configDir before the gateway first reads it. Under the same
// lock as deploys, for each of the three files:
//
//  1. a file already in configDir is used as it is (a deploy's result
//     must survive gateway restarts);
//  2. else the file of the same name in seedDir (the seed config baked into
//     the gateway image) is copied, byte for byte; seedDir may be "" or not
//     exist, and may lack some of the files;
//  3. else the file is written in its empty form.
//
// An existing file is never overwritten. The resulting config is decoded and
// validated before anything is written; if it is invalid, Seed fails and
// configDir is unchanged, so the gateway fails fast instead of serving a
// broken config. When the result has no functions, Seed logs and returns
// NoConfigWarning.
func Seed(ctx context.Context, configDir, seedDir string, opts SeedOptions) (res SeedResult, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	unlock, err := Lock(ctx, configDir, opts.Lock)
	if err != nil {
		return SeedResult{}, err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()

	empty, err := Marshal(Empty())
	if err != nil {
		return SeedResult{}, err
	}
	existing, _, err := atomicdir.ReadPresent(configDir, FileNames[:])
	if err != nil {
		return SeedResult{}, err
	}
	var files Files
	for _, name := range FileNames {
		if data, ok := existing[name]; ok {
			res.Kept = append(res.Kept, name)
			files.set(name, data)
			continue
		}
		if seedDir != "" {
			data, ok, err := readIfExists(filepath.Join(seedDir, name))
			if err != nil {
				return SeedResult{}, err
			}
			if ok {
				res.Copied = append(res.Copied, name)
				files.set(name, data)
				continue
			}
		}
		res.Created = append(res.Created, name)
		files.set(name, empty.Get(name))
	}

	cfg, err := Decode(files)
	if err != nil {
		return SeedResult{}, fmt.Errorf("seed %s (%s): %w", configDir, res.origins(seedDir), err)
	}
	if err := ctx.Err(); err != nil {
		return SeedResult{}, fmt.Errorf("seed %s: %w", configDir, err)
	}
	if len(res.Copied)+len(res.Created) > 0 {
		if err := publish(configDir, files); err != nil {
			return SeedResult{}, err
		}
	}

	for _, name := range res.Kept {
		log.Info("runtime config: using existing file", "file", filepath.Join(configDir, name))
	}
	for _, name := range res.Copied {
		log.Info("runtime config: copied seed file", "file", filepath.Join(configDir, name), "from", filepath.Join(seedDir, name))
	}
	for _, name := range res.Created {
		log.Info("runtime config: wrote empty file", "file", filepath.Join(configDir, name))
	}
	res.Config = cfg
	if len(cfg.Functions.Functions) == 0 {
		res.Warnings = append(res.Warnings, NoConfigWarning)
		log.Warn(NoConfigWarning)
	}
	return res, nil
}

// origins describes where the files came from, for an error about them.
func (r SeedResult) origins(seedDir string) string {
	var parts []string
	if len(r.Kept) > 0 {
		parts = append(parts, "existing: "+strings.Join(r.Kept, ", "))
	}
	if len(r.Copied) > 0 {
		parts = append(parts, "copied from "+seedDir+": "+strings.Join(r.Copied, ", "))
	}
	if len(r.Created) > 0 {
		parts = append(parts, "empty: "+strings.Join(r.Created, ", "))
	}
	return strings.Join(parts, "; ")
}

// readIfExists reads path; ok is false when it does not exist.
func readIfExists(path string) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return data, true, nil
}
