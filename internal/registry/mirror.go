package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
)

// MirrorResult says what Mirror did for one base image.
type MirrorResult struct {
	Ref    string // as asked, e.g. debian:trixie-slim
	Action string // "present", "pushed" or "unavailable"
}

// Mirror makes sure the registry serves each docker.io ref in refs under
// the path the Dagger engine's mirror asks for (library/debian:trixie-slim
// for debian:trixie-slim). A ref the registry lacks is pushed from the
// local Docker engine when it has the image; otherwise it is reported
// "unavailable" and the engine falls back to docker.io itself, which works
// online and fails with the engine's own error offline.
func (c Client) Mirror(ctx context.Context, docker client.APIClient, refs []string) ([]MirrorResult, error) {
	out := make([]MirrorResult, 0, len(refs))
	for _, ref := range refs {
		res, err := c.mirrorOne(ctx, docker, ref)
		if err != nil {
			return out, fmt.Errorf("mirror %s: %w", ref, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (c Client) mirrorOne(ctx context.Context, docker client.APIClient, ref string) (MirrorResult, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return MirrorResult{}, err
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return MirrorResult{}, errors.New("only tagged refs can be mirrored")
	}
	if reference.Domain(named) != "docker.io" {
		return MirrorResult{}, fmt.Errorf("only docker.io refs go through the mirror, not %s", reference.Domain(named))
	}
	repo, tag := reference.Path(named), tagged.Tag()
	if _, ok, err := c.Manifest(ctx, repo, tag); err != nil {
		return MirrorResult{}, err
	} else if ok {
		return MirrorResult{Ref: ref, Action: "present"}, nil
	}

	local := reference.FamiliarString(tagged)
	if _, err := docker.ImageInspect(ctx, local); errdefs.IsNotFound(err) {
		return MirrorResult{Ref: ref, Action: "unavailable"}, nil
	} else if err != nil {
		return MirrorResult{}, err
	}
	target := c.Addr + "/" + repo + ":" + tag
	if err := docker.ImageTag(ctx, local, target); err != nil {
		return MirrorResult{}, err
	}
	// The extra tag only exists to push; leave the engine's image list as it was.
	defer func() { _, _ = docker.ImageRemove(context.WithoutCancel(ctx), target, image.RemoveOptions{}) }()
	if err := Push(ctx, docker, target); err != nil {
		return MirrorResult{}, err
	}
	return MirrorResult{Ref: ref, Action: "pushed"}, nil
}

// ThroughMirror reports whether the engine resolves ref through the
// registry mirror: a tagged docker.io ref.
func ThroughMirror(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || reference.Domain(named) != "docker.io" {
		return false
	}
	_, digested := named.(reference.Digested)
	return !digested
}

// Push pushes ref through the Docker engine and returns once the engine
// reports the push finished, with the engine's error if it failed.
func Push(ctx context.Context, docker client.APIClient, ref string) error {
	rc, err := docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: emptyAuth()})
	return finish("push", ref, rc, err)
}

// emptyAuth is the X-Registry-Auth header for a registry without
// authentication: the engine API requires the header to be valid JSON.
func emptyAuth() string {
	data, _ := json.Marshal(struct{}{})
	return base64.URLEncoding.EncodeToString(data)
}

// Pull pulls ref into the Docker engine and returns once the engine
// reports the pull finished, with the engine's error if it failed.
func Pull(ctx context.Context, docker client.APIClient, ref string) error {
	rc, err := docker.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: emptyAuth()})
	return finish("pull", ref, rc, err)
}

// finish reads a push or pull's progress stream to its end: the engine
// reports a failure in the stream, not in the call's error.
func finish(verb, ref string, rc io.ReadCloser, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	return nil
}
