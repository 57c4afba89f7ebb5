package launcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/engine"
)

// PullPolicy says when the agent pulls a function image.
type PullPolicy string

// Pull policies. Always exists for fixed tags (containerd mode): a deploy
// republishes the same tag, and only a pull sees the new content. An image
// pinned by digest cannot move, so always pulls it only when it is not
// here: a pull per cold start cost the registry, containerd and the agent
// about a tenth of a burst's CPU, for content already on the node.
const (
	PullIfNotPresent PullPolicy = "if-not-present"
	PullAlways       PullPolicy = "always"
)

// ParsePullPolicy accepts exactly the documented values, so a typo fails the
// agent at startup instead of silently meaning the default.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case PullIfNotPresent, PullAlways:
		return p, nil
	}
	return "", fmt.Errorf("pull policy %q: want %s or %s", s, PullIfNotPresent, PullAlways)
}

// ensureImage makes the image available under the pull policy and returns
// the reference to create the container from. With a digest that is
// repo@digest, so the container runs exactly what was deployed however the
// tag moved since. A digest is normally a registry manifest digest; an
// image that never left this engine is accepted by its image ID, which is
// just as exact (if-not-present only: always asks the registry for it).
func (l *Launcher) ensureImage(ctx context.Context, image, dgst string) (string, error) {
	ref := image
	if dgst != "" {
		var err error
		if ref, err = pinned(image, dgst); err != nil {
			return "", err
		}
	}
	if l.cfg.PullPolicy == PullAlways && dgst == "" {
		return ref, l.pull(ctx, ref)
	}
	_, err := l.rt.InspectImage(ctx, ref)
	if err == nil {
		return ref, nil
	}
	if !errors.Is(err, engine.ErrNotFound) {
		return "", err
	}
	if dgst != "" {
		if img, err := l.rt.InspectImage(ctx, dgst); err == nil && img.ID == dgst {
			return dgst, nil
		}
	}
	return ref, l.pull(ctx, ref)
}

// ImageRef is the reference containers of spec run from when the image
// is pulled: the function's repository at its digest. It is empty for a
// spec without a digest or with an unusable image name.
func (l *Launcher) ImageRef(spec agentapi.FunctionSpec) string {
	if spec.Function.Digest == "" {
		return ""
	}
	ref, err := pinned(spec.Function.Image, spec.Function.Digest)
	if err != nil {
		return ""
	}
	return ref
}

// RemoveImage removes a local image reference; see engine.Runtime.
func (l *Launcher) RemoveImage(ctx context.Context, ref string) error {
	return l.rt.RemoveImage(ctx, ref)
}

// pull shares one pull among concurrent cold starts of the same reference.
// Every caller runs under the pool's lifetime context, not a request's, so
// the first caller's context is as good as any other's.
func (l *Launcher) pull(ctx context.Context, ref string) error {
	_, err, _ := l.pulls.Do(ref, func() (any, error) {
		began := time.Now()
		err := l.rt.PullImage(ctx, ref)
		if l.opts.OnPull != nil {
			l.opts.OnPull(time.Since(began), err)
		}
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrImagePull, err)
	}
	return nil
}

// pinned returns image's repository at dgst, dropping any tag.
func pinned(image, dgst string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w: %w", image, ErrInvalidSpec, err)
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w: %w", dgst, ErrInvalidSpec, err)
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(named), d)
	if err != nil {
		return "", fmt.Errorf("image %q at %s: %w: %w", image, dgst, ErrInvalidSpec, err)
	}
	return reference.FamiliarString(canonical), nil
}
