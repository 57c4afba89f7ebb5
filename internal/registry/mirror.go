package registry

import (
	"context"
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
	// Digest is the manifest digest the registry serves for Ref, checked
	// against the ledger ("present") or just pushed ("pushed"); empty
	// when "unavailable".
	Digest string
}

// Pinned is the result's ref at its digest (name:tag@sha256:...), which
// the engine resolves by digest alone; Ref when there is no digest.
func (r MirrorResult) Pinned() string {
	if r.Digest == "" {
		return r.Ref
	}
	return r.Ref + "@" + r.Digest
}

// Mirror makes sure the registry serves each docker.io ref in refs under
// the path the Dagger engine's mirror asks for (library/debian:trixie-slim
// for debian:trixie-slim), at a digest ESB put there:
//   - the registry has it at the digest the ledger recorded: "present";
//   - the registry has it at another digest: a DigestMismatchError, and
//     nothing is built on it;
//   - the registry lacks it, or has it with no record (seeded before the
//     ledger existed): pushed from the local Docker engine, the trusted
//     copy, and its digest recorded ("pushed");
//   - neither has it: "unavailable", and the engine falls back to
//     docker.io itself, which works online and fails with the engine's
//     own error offline. One the registry has that ESB cannot vouch for
//     (no record, no local copy) is an error.
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
	key := repo + ":" + tag
	served, inRegistry, err := c.Manifest(ctx, repo, tag)
	if err != nil {
		return MirrorResult{}, err
	}
	if inRegistry {
		recorded, err := c.Ledger.Check(key, ref, c.Addr, served)
		if err != nil {
			return MirrorResult{}, err
		}
		if recorded {
			return MirrorResult{Ref: ref, Action: "present", Digest: served}, nil
		}
	}

	local := reference.FamiliarString(tagged)
	if _, err := docker.ImageInspect(ctx, local); errdefs.IsNotFound(err) {
		if inRegistry {
			return MirrorResult{}, fmt.Errorf("%w: the env's registry %s has it (%s) but ESB has no record of putting it there (%s) and this host's Docker engine has no copy to push instead: "+
				"load or build %s on this host and deploy again", ErrUnverified, c.Addr, served, c.Ledger.Path, local)
		}
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
	digest, err := c.Push(ctx, docker, target)
	if err != nil {
		return MirrorResult{}, err
	}
	if err := c.Ledger.Record(key, digest); err != nil {
		return MirrorResult{}, err
	}
	return MirrorResult{Ref: ref, Action: "pushed", Digest: digest}, nil
}

// ErrUnverified means the registry holds a base ESB has no record of and
// no local copy to replace it with.
var ErrUnverified = errors.New("base image not verifiable")

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

// Push pushes ref through the Docker engine with the client's credential
// and returns, once the engine reports the push finished, the manifest
// digest the engine pushed (from its own report, not a later lookup).
func (c Client) Push(ctx context.Context, docker client.APIClient, ref string) (string, error) {
	rc, err := docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: c.Auth.DockerAuth(c.Addr)})
	var digest string
	if err := finish("push", ref, rc, err, func(m jsonmessage.JSONMessage) {
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			digest = aux.Digest
		}
	}); err != nil {
		return "", err
	}
	if digest == "" {
		return "", fmt.Errorf("push %s: the engine reported no digest", ref)
	}
	return digest, nil
}

// Pull pulls ref from the client's registry into the Docker engine with
// the client's credential, and returns once the engine reports the pull
// finished, with the engine's error if it failed.
func (c Client) Pull(ctx context.Context, docker client.APIClient, ref string) error {
	rc, err := docker.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: c.Auth.DockerAuth(c.Addr)})
	return finish("pull", ref, rc, err, nil)
}

// finish reads a push or pull's progress stream to its end: the engine
// reports a failure in the stream, not in the call's error.
func finish(verb, ref string, rc io.ReadCloser, err error, aux func(jsonmessage.JSONMessage)) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, aux); err != nil {
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	return nil
}
