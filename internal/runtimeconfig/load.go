package runtimeconfig

import "github.com/esb-dev/esb/internal/atomicdir"

// ReadFiles reads the three files of dir, all of one generation (see
// MergeInto). A missing file is an error wrapping fs.ErrNotExist.
func ReadFiles(dir string) (Files, error) {
	if dir == "" {
		return Files{}, errEmptyDir
	}
	// A dir of the layout before generations is read file by file, in this
	// order: routing.yml and resources.yml before functions.yml, the reverse
	// of the order its writers replaced them in. Functions are never
	// deleted, so a routing.yml read first can only name functions the
	// functions.yml read after it already has.
	byName, err := atomicdir.Read(dir, []string{RoutingFileName, ResourcesFileName, FunctionsFileName})
	if err != nil {
		return Files{}, err
	}
	var files Files
	for name, data := range byName {
		files.set(name, data)
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
