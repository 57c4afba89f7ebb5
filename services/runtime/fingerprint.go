package lambdaimages

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// BaseRepository is the repository ESB keeps the runtime base images it
// built under: on the host's Docker engine, one copy per machine that every
// env's deploy starts from, and in an env's registry, where that env's
// Dagger engine resolves it through its docker.io mirror.
const BaseRepository = "esb/lambda-base"

// BaseRef names the base image a Dockerfile of Context builds, by content:
// BaseRepository:<dockerfile stem>-<fingerprint>. Equal refs are built from
// equal inputs, so a base one env built serves every other env of the
// machine, and an edit of the runtime client names a new one.
func BaseRef(dockerfile string) (string, error) {
	fp, err := Fingerprint(dockerfile)
	if err != nil {
		return "", err
	}
	return BaseRepository + ":" + strings.TrimSuffix(dockerfile, ".Dockerfile") + "-" + fp[:16], nil
}

// RuntimeBaseRef is the BaseRef of the Dockerfile a runtime's base is
// built from.
func RuntimeBaseRef(runtime string) (string, error) {
	dockerfile, err := Dockerfile(runtime)
	if err != nil {
		return "", err
	}
	return BaseRef(dockerfile)
}

// BaseRefs are the BaseRef of every Dockerfile of Context: the runtime
// bases this version of ESB builds, sorted.
func BaseRefs() ([]string, error) {
	dockerfiles, err := fs.Glob(buildContext, "*.Dockerfile")
	if err != nil {
		return nil, err
	}
	refs := make([]string, 0, len(dockerfiles))
	for _, d := range dockerfiles {
		ref, err := BaseRef(d)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	return refs, nil
}

// Fingerprint hashes a Dockerfile of Context with every file its COPY
// instructions take from the build context (the images it starts from are
// named, with their tags, in the Dockerfile itself).
func Fingerprint(dockerfile string) (string, error) {
	data, err := fs.ReadFile(buildContext, dockerfile)
	if err != nil {
		return "", fmt.Errorf("runtime base %s: %w", dockerfile, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %s %d\n", dockerfile, len(data))
	h.Write(data)
	var files []string
	for _, src := range CopySources(string(data)) {
		src = path.Clean(src)
		err := fs.WalkDir(buildContext, src, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", fmt.Errorf("runtime base %s: copies %s: %w", dockerfile, src, err)
		}
	}
	sort.Strings(files)
	for i, p := range files {
		if i > 0 && files[i-1] == p {
			continue
		}
		content, err := fs.ReadFile(buildContext, p)
		if err != nil {
			return "", fmt.Errorf("runtime base %s: %w", dockerfile, err)
		}
		fmt.Fprintf(h, "file %s %d\n", p, len(content))
		h.Write(content)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CopySources lists the build-context sources of a Dockerfile's COPY
// instructions, skipping copies from other stages.
func CopySources(dockerfile string) []string {
	var sources []string
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") {
			continue
		}
		args := fields[1:]
		fromStage := false
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
			args = args[1:]
		}
		if fromStage || len(args) < 2 {
			continue
		}
		sources = append(sources, args[:len(args)-1]...)
	}
	return sources
}
