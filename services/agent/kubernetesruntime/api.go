package kubernetesruntime

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// API is the part of the Kubernetes core API the runtime uses. NewAPI
// implements it over REST.
type API interface {
	CreatePod(ctx context.Context, pod *corev1.Pod) error
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error)
	WatchPods(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error)
	DeletePod(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error
	// PodLogs opens a Pod's log stream (pods/log).
	PodLogs(ctx context.Context, namespace, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
	ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error)
	WatchNodes(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	GetNamespace(ctx context.Context, name string) error
	CreateNamespace(ctx context.Context, ns *corev1.Namespace) error
	CreateSecret(ctx context.Context, secret *corev1.Secret) error
	UpdateSecret(ctx context.Context, secret *corev1.Secret) error
}

// restAPI is API on a REST client that knows the core group alone:
// client-go's typed clientset registers every API group of Kubernetes,
// which would double the agent's binary.
type restAPI struct {
	c      *rest.RESTClient
	params runtime.ParameterCodec
}

// NewAPI returns the core API of the cluster cfg points at.
func NewAPI(cfg *rest.Config) (API, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubernetes core scheme: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &restAPI{c: client, params: runtime.NewParameterCodec(scheme)}, nil
}

func (a *restAPI) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	return a.c.Post().Namespace(pod.Namespace).Resource("pods").Body(pod).Do(ctx).Error()
}

func (a *restAPI) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, a.c.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(out)
}

func (a *restAPI) ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	return out, a.c.Get().Namespace(namespace).Resource("pods").VersionedParams(&opts, a.params).Do(ctx).Into(out)
}

func (a *restAPI) WatchPods(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return a.c.Get().Namespace(namespace).Resource("pods").VersionedParams(&opts, a.params).Watch(ctx)
}

func (a *restAPI) DeletePod(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error {
	return a.c.Delete().Namespace(namespace).Resource("pods").Name(name).Body(&opts).Do(ctx).Error()
}

func (a *restAPI) PodLogs(ctx context.Context, namespace, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return a.c.Get().Namespace(namespace).Resource("pods").Name(name).SubResource("log").VersionedParams(opts, a.params).Stream(ctx)
}

func (a *restAPI) ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	return out, a.c.Get().Resource("nodes").VersionedParams(&opts, a.params).Do(ctx).Into(out)
}

func (a *restAPI) WatchNodes(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return a.c.Get().Resource("nodes").VersionedParams(&opts, a.params).Watch(ctx)
}

func (a *restAPI) GetNamespace(ctx context.Context, name string) error {
	return a.c.Get().Resource("namespaces").Name(name).Do(ctx).Error()
}

func (a *restAPI) CreateNamespace(ctx context.Context, ns *corev1.Namespace) error {
	return a.c.Post().Resource("namespaces").Body(ns).Do(ctx).Error()
}

func (a *restAPI) CreateSecret(ctx context.Context, secret *corev1.Secret) error {
	return a.c.Post().Namespace(secret.Namespace).Resource("secrets").Body(secret).Do(ctx).Error()
}

func (a *restAPI) UpdateSecret(ctx context.Context, secret *corev1.Secret) error {
	return a.c.Put().Namespace(secret.Namespace).Resource("secrets").Name(secret.Name).Body(secret).Do(ctx).Error()
}
