package kubernetesruntime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// Annotations the runtime keeps on its Pods. Labels carry only what a
// selector needs, in the form label values allow; these keep the caller's
// values as given.
const (
	// annotationName is the name the caller created the container with:
	// a Pod name is a lower-case DNS name, a container name is not.
	annotationName = "dev.esb.kubernetes/name"
	// annotationImage is the image reference as the caller gave it (the
	// agent's view of the registry), before the rewrite to the nodes' view.
	annotationImage = "dev.esb.kubernetes/image"
	// annotationLabels is every caller label as JSON, values unchanged
	// (a digest, sha256:..., is no valid label value).
	annotationLabels = "dev.esb.kubernetes/labels"
)

// containerName is the name of the one container of a function Pod.
const containerName = "function"

// tmpVolume is the Pod volume mounted at /tmp.
const tmpVolume = "tmp"

// terminationGrace is how long the kubelet lets a function's processes end
// after SIGTERM. Every removal the agent makes is a kill (grace 0, the
// Pod leaves the API at once); the kubelet then stops the container with
// the Pod's own grace, which must not let old code run on for the default
// 30 s after a redeploy retired it.
const terminationGrace = 2

// podName maps a container name onto a Pod name (a DNS-1123 subdomain of
// at most 63 characters, so the Pod's hostname is its name). A valid name
// is its own Pod name, so Remove finds a Pod by either; any other (upper
// case, underscores, too long) is cut down, lower-cased and made unique
// by a hash of the original. podName(podName(x)) == podName(x).
func podName(name string) string {
	if len(name) <= validation.DNS1123LabelMaxLength && len(validation.IsDNS1123Label(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:6])
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, name)
	clean = strings.Trim(clean, "-")
	if limit := validation.DNS1123LabelMaxLength - len(suffix); len(clean) > limit {
		clean = strings.TrimRight(clean[:limit], "-")
	}
	if clean == "" {
		clean = "esb"
	}
	return clean + suffix
}

// labelValue is v when it is a valid label value, else a stable hash of it
// (a digest, a function name longer than 63 characters): the Pod then
// still carries the label, and a selector on the hash selects it. Values
// are compared in full on the annotation afterwards (see matches).
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256-" + hex.EncodeToString(sum[:20])
}

// podLabels are the Pod labels for the caller's labels. Keys are the
// caller's as they are: agentapi's keys (dev.esb.function...) are valid
// label keys.
func podLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = labelValue(v)
	}
	return out
}

// callerLabels reads back the labels a Pod was created with.
func callerLabels(pod *corev1.Pod) map[string]string {
	var out map[string]string
	if raw := pod.Annotations[annotationLabels]; raw != "" && json.Unmarshal([]byte(raw), &out) == nil {
		return out
	}
	// A Pod made by hand or by something else: its labels are all it has.
	return maps.Clone(pod.Labels)
}

// matches reports whether the Pod carries every one of want, compared on
// the caller's values (a hashed label only narrows the API's answer).
func matches(pod *corev1.Pod, want map[string]string) bool {
	have := callerLabels(pod)
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// nodeImage rewrites the registry host of ref when it is one of names (the
// env's registry as specs and the agent name it) to registry, where the
// nodes pull it from; other references are returned as they are.
func nodeImage(ref string, names []string, registry string) (string, error) {
	if isImageID(ref) {
		return "", fmt.Errorf("image %s: an image ID of one engine, which no node has", ref)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	if registry == "" || !slices.Contains(names, reference.Domain(named)) {
		return reference.FamiliarString(named), nil
	}
	out := registry + "/" + reference.Path(named)
	if d, ok := named.(reference.Digested); ok {
		out += "@" + d.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		out += ":" + t.Tag()
	}
	if _, err := reference.ParseNormalizedNamed(out); err != nil {
		return "", fmt.Errorf("image reference %q on registry %s: %w", ref, registry, err)
	}
	return out, nil
}

// isImageID reports whether ref is a bare image ID (sha256:...), which
// reference parsing would read as the repository "sha256" on Docker Hub.
func isImageID(ref string) bool {
	_, err := digest.Parse(ref)
	return err == nil
}

// pullPolicy pulls a tag every time, since a deploy republishes the same
// tag with new content; a digest names one content for good.
func pullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

// escapeExpansion keeps a value literal: the kubelet expands $(NAME) in a
// container's env values and args, and turns $$ into $, which a Lambda
// environment value must not undergo.
func escapeExpansion(v string) string {
	return strings.ReplaceAll(v, "$", "$$")
}

// podConfig is what a Pod is built from beside the spec.
type podConfig struct {
	Namespace    string
	Image        string // the spec's image, rewritten for the nodes
	PullSecret   string // empty: none
	NodeSelector map[string]string
}

// buildPod turns a spec into its Pod.
//
// Resources follow docker mode: memory request = limit (Lambda has no
// swap; nor has a kubelet by default), CPU a request only, the sandbox's
// weight converted from Docker's shares (1024 = one CPU) to millicores,
// as the kubelet converts back. A /tmp emptyDir in memory, sized like the
// tmpfs of the other runtimes (and like theirs counted against the
// memory limit). The sandbox is the Pod's security context: the Lambda
// user, a read-only root filesystem, no capabilities, no privilege
// escalation, the runtime's default seccomp profile. sandboxinit does not
// run in a Pod (its image is not on the nodes, and it needs
// CAP_NET_ADMIN): the network part of the policy is the cluster's (see
// Runtime.warnUnenforced).
func buildPod(spec engine.Spec, cfg podConfig) (*corev1.Pod, error) {
	env := make([]corev1.EnvVar, 0, len(spec.Env))
	for _, kv := range spec.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("environment entry %q: want KEY=value", kv)
		}
		env = append(env, corev1.EnvVar{Name: k, Value: escapeExpansion(v)})
	}
	var args []string
	for _, a := range spec.Cmd {
		args = append(args, escapeExpansion(a))
	}
	all, err := json.Marshal(spec.Labels)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	c := corev1.Container{
		Name:            containerName,
		Image:           cfg.Image,
		ImagePullPolicy: pullPolicy(cfg.Image),
		// Args replace the image's CMD and keep its ENTRYPOINT, as the
		// other runtimes do with a spec's Cmd.
		Args: args,
		Env:  env,
	}
	if spec.MemoryBytes > 0 {
		mem := *resource.NewQuantity(spec.MemoryBytes, resource.BinarySI)
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: mem}
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: mem}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(spec.Name),
			Namespace: cfg.Namespace,
			Labels:    podLabels(spec.Labels),
			Annotations: map[string]string{
				annotationName:   spec.Name,
				annotationImage:  spec.Image,
				annotationLabels: string(all),
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr(false),
			EnableServiceLinks:            ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(terminationGrace)),
			NodeSelector:                  maps.Clone(cfg.NodeSelector),
		},
	}
	if cfg.PullSecret != "" {
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: cfg.PullSecret}}
	}
	if v, ok := pod.Labels[functionLabel]; ok {
		// Warm containers of a function spread over the nodes, so losing
		// one node loses as few of them as possible. A preference only: a
		// node that alone has room still gets the Pod.
		pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       corev1.LabelHostname,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{functionLabel: v}},
		}}
	}
	if sb := spec.Sandbox; sb != nil {
		uid, gid := int64(sb.Policy.UID), int64(sb.Policy.GID)
		if uid == 0 {
			uid, gid = sandbox.LambdaUID, sandbox.LambdaGID
		}
		c.SecurityContext = &corev1.SecurityContext{
			RunAsUser:                &uid,
			RunAsGroup:               &gid,
			RunAsNonRoot:             ptr(true),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Privileged:               ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		if sb.CPUShares > 0 {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(max(1, sb.CPUShares*1000/1024)), resource.DecimalSI)
		}
		c.VolumeMounts = []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}}
		pod.Spec.Volumes = []corev1.Volume{{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium:    corev1.StorageMediumMemory,
			SizeLimit: resource.NewQuantity(sb.TmpBytes, resource.BinarySI),
		}}}}
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	}
	pod.Spec.Containers = []corev1.Container{c}
	return pod, nil
}

// failingReasons are container waiting reasons a start does not recover
// from by waiting: the kubelet backs off and retries, but a cold start
// is better failed with the reason now (the pool starts again).
var failingReasons = []string{
	"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "CrashLoopBackOff",
	"PreStartHookError", "PostStartHookError",
}

// nodeReady reports whether a node is ready; nodes the runtime does not
// know (deleted) are not.
type nodeReady func(name string) bool

// podState maps a Pod onto engine.State. A Pod whose node is not ready
// (its kubelet stopped reporting) counts as exited, though the API still
// says Running: its containers are out of reach, and the pool replaces
// them. A Pod being deleted is removing; Pending is created (scheduled
// or not, pulling or not: not running yet).
func podState(pod *corev1.Pod, ready nodeReady) engine.State {
	if pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && !ready(pod.Spec.NodeName) {
		return engine.StateExited
	}
	if pod.DeletionTimestamp != nil {
		return engine.StateRemoving
	}
	switch pod.Status.Phase {
	case corev1.PodPending:
		return engine.StateCreated
	case corev1.PodRunning:
		if cs := functionStatus(pod); cs != nil && cs.State.Running != nil {
			return engine.StateRunning
		}
		return engine.StateExited
	default: // Succeeded, Failed, Unknown
		return engine.StateExited
	}
}

// functionStatus is the status of the Pod's function container, nil
// before the kubelet reports one.
func functionStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// startFailure says why a starting Pod will not run, or "" while it may
// still. running reports that it runs.
func startFailure(pod *corev1.Pod, ready nodeReady) (reason string, running bool) {
	if pod.DeletionTimestamp != nil {
		return "deleted while starting", false
	}
	if pod.Spec.NodeName != "" && !ready(pod.Spec.NodeName) {
		return "node " + pod.Spec.NodeName + " is not ready", false
	}
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return fmt.Sprintf("%s%s", pod.Status.Phase, detail(pod.Status.Reason, pod.Status.Message)), false
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
			return "unschedulable" + detail("", cond.Message), false
		}
	}
	cs := functionStatus(pod)
	if cs == nil {
		return "", false
	}
	switch {
	case cs.State.Running != nil:
		return "", pod.Status.Phase == corev1.PodRunning
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		return fmt.Sprintf("exited with code %d%s", t.ExitCode, detail(t.Reason, t.Message)), false
	case cs.State.Waiting != nil && slices.Contains(failingReasons, cs.State.Waiting.Reason):
		return cs.State.Waiting.Reason + detail("", cs.State.Waiting.Message), false
	}
	return "", false
}

// progress describes a Pod that is not running yet, for a start that ran
// out of time.
func progress(pod *corev1.Pod) string {
	if cs := functionStatus(pod); cs != nil && cs.State.Waiting != nil {
		return fmt.Sprintf("%s (%s)", pod.Status.Phase, cs.State.Waiting.Reason)
	}
	if pod.Spec.NodeName == "" {
		return fmt.Sprintf("%s, not scheduled", pod.Status.Phase)
	}
	return fmt.Sprintf("%s on node %s", pod.Status.Phase, pod.Spec.NodeName)
}

func detail(reason, message string) string {
	switch {
	case reason != "" && message != "":
		return ": " + reason + ": " + message
	case reason != "":
		return ": " + reason
	case message != "":
		return ": " + message
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// ParseNodeSelector reads a node selector written key=value,key=value,
// checking keys and values as the API would.
func ParseNodeSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("node selector %q: want key=value", item)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node selector key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node selector value %q: %s", v, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}
