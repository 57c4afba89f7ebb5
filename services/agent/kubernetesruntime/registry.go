package kubernetesruntime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/engine"
)

// Images in kubernetes mode: the nodes' kubelets pull them, each for
// itself, when a Pod needs one, and their image garbage collection
// removes them. What the agent can truthfully say is whether the
// registry the nodes pull from has an image, so:
//   - InspectImage asks the registry for the manifest (by digest when the
//     reference has one): present there is "present";
//   - PullImage makes sure it is there (the same question, failing with
//     ErrNotFound when it is not): a start then fails before a Pod exists,
//     with the registry's answer rather than a kubelet's back-off;
//   - RemoveImage removes nothing: no node image is the agent's, and it
//     answers ErrNotFound (no reference of its own), which the pool takes
//     as "left in place".
//
// The agent asks the registry under the name it knows it by (RegistryNames,
// plain HTTP, the env's credential), the nodes under Config.Registry.

// newResolver resolves references against registries, sending the env's
// credential to its own registry only (never to another host an image
// might name).
func newResolver(names []string, cred registryauth.Credential) remotes.Resolver {
	names = slices.Clone(names)
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(host string) (string, string, error) {
		if cred.Empty() || !slices.Contains(names, host) {
			return "", "", nil
		}
		return cred.Username, cred.Password, nil
	}))
	hosts := docker.ConfigureDefaultRegistries(docker.WithAuthorizer(authorizer), docker.WithPlainHTTP(func(host string) (bool, error) {
		if slices.Contains(names, host) {
			return true, nil
		}
		return docker.MatchLocalhost(host)
	}))
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// InspectImage implements engine.Runtime: see the note on images above.
// A bare image ID (sha256:...) names an image of one engine, which no
// node has: ErrNotFound.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (engine.Image, error) {
	if isImageID(ref) {
		return engine.Image{}, fmt.Errorf("inspect image %s: %w: an image ID of one engine, not in any registry", ref, engine.ErrNotFound)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s: %w: not a registry reference: %w", ref, engine.ErrNotFound, err)
	}
	_, desc, err := r.resolver.Resolve(ctx, reference.TagNameOnly(named).String())
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s in its registry: %w", ref, notFound(err))
	}
	out := engine.Image{ID: desc.Digest.String()}
	if canonical, err := reference.WithDigest(reference.TrimNamed(named), desc.Digest); err == nil {
		out.RepoDigests = []string{reference.FamiliarString(canonical)}
	}
	return out, nil
}

// PullImage implements engine.Runtime: see the note on images above.
func (r *Runtime) PullImage(ctx context.Context, ref string) error {
	if _, err := r.InspectImage(ctx, ref); err != nil {
		return fmt.Errorf("pull %s (nodes pull it from %s): %w", ref, r.cfg.Registry, err)
	}
	return nil
}

// RemoveImage implements engine.Runtime: see the note on images above.
func (r *Runtime) RemoveImage(_ context.Context, ref string) error {
	return fmt.Errorf("remove image %s: %w: node images are the kubelets' (image garbage collection)", ref, engine.ErrNotFound)
}

// dockerConfigJSON is a kubernetes.io/dockerconfigjson Secret's content
// for one registry.
func dockerConfigJSON(registry string, cred registryauth.Credential) ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	return json.Marshal(struct {
		Auths map[string]entry `json:"auths"`
	}{map[string]entry{registry: {cred.Username, cred.Password, base64.StdEncoding.EncodeToString([]byte(cred.UserPass()))}}})
}

// ensurePullSecret creates or updates the namespace's pull secret with the
// env's credential for the nodes' registry address.
func (r *Runtime) ensurePullSecret(ctx context.Context) error {
	data, err := dockerConfigJSON(r.cfg.Registry, r.cfg.RegistryAuth)
	if err != nil {
		return fmt.Errorf("pull secret: %w", err)
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PullSecretName, Namespace: r.cfg.Namespace, Labels: r.cfg.Selector},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: data},
	}
	err = r.client.CreateSecret(ctx, want)
	if apierrors.IsAlreadyExists(err) {
		err = r.client.UpdateSecret(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("pull secret %s/%s: %w", r.cfg.Namespace, PullSecretName, err)
	}
	return nil
}

// notFound adds engine.ErrNotFound to a not-found error of the registry.
func notFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return err
}
