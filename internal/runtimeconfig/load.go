package runtimeconfig

import (
	"errors"
	"os"
	"path/filepath"
)

// ReadFiles reads the three files of dir. A missing file is an error
// wrapping fs.ErrNotExist. Writers replace each file by rename, so what is
// read is always a complete file, and the read order keeps the three
// consistent with each other (see the comment inside).
func ReadFiles(dir string) (Files, error) {
	if dir == "" {
		return Files{}, errEmptyDir
	}
	var (
		files Files
		errs  []error
	)
	// routing.yml and resources.yml are read before functions.yml, the
	// reverse of the write order. Writers replace functions.yml first and
	// functions are never deleted, so a routing.yml read first can only name
	// functions that the functions.yml read after it already has, even while
	// a merge is replacing the files one by one. Reading functions.yml first
	// could pair it with a newer routing.yml whose new routes point at
	// functions it lacks.
	for _, name := range [...]string{RoutingFileName, ResourcesFileName, FunctionsFileName} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err) // *fs.PathError names the file already
			continue
		}
		files.set(name, data)
	}
	if len(errs) > 0 {
		return Files{}, errors.Join(errs...)
	}
	return files, nil
}

// Load reads, decodes and validates the three files of dir (functions.yml,
// routing.yml, resources.yml). A missing file is an error wrapping
// fs.ErrNotExist; a malformed or invalid one is reported as *FieldError
// values naming file, line and field, e.g.
// `routing.yml:12:5: routes[3].method: unsupported method "FETCH"`.
//
// Load needs no lock: it is safe to call while a deploy writes, see
// ReadFiles.
func Load(dir string) (Config, error) {
	files, err := ReadFiles(dir)
	if err != nil {
		return Config{}, err
	}
	return Decode(files)
}
