package kubernetesruntime

import (
	"context"
	"errors"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// fakeAPI is API on client-go's fake clientset, whose log streams are
// canned: logs replaces them.
type fakeAPI struct {
	c    corev1client.CoreV1Interface
	logs func(ctx context.Context, namespace, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// IsWatchListSemanticsUnSupported says, as the fake clientset does, that
// the fake serves no streamed initial list.
func (fakeAPI) IsWatchListSemanticsUnSupported() bool { return true }

func (f fakeAPI) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	_, err := f.c.Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	return err
}

func (f fakeAPI) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return f.c.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (f fakeAPI) ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error) {
	return f.c.Pods(namespace).List(ctx, opts)
}

func (f fakeAPI) WatchPods(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	return f.c.Pods(namespace).Watch(ctx, opts)
}

func (f fakeAPI) DeletePod(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error {
	return f.c.Pods(namespace).Delete(ctx, name, opts)
}

func (f fakeAPI) PodLogs(ctx context.Context, namespace, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	if f.logs == nil {
		return nil, errors.New("the fake serves no logs")
	}
	return f.logs(ctx, namespace, name, opts)
}

func (f fakeAPI) ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	return f.c.Nodes().List(ctx, opts)
}

func (f fakeAPI) WatchNodes(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return f.c.Nodes().Watch(ctx, opts)
}

func (f fakeAPI) GetNamespace(ctx context.Context, name string) error {
	_, err := f.c.Namespaces().Get(ctx, name, metav1.GetOptions{})
	return err
}

func (f fakeAPI) CreateNamespace(ctx context.Context, ns *corev1.Namespace) error {
	_, err := f.c.Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	return err
}

func (f fakeAPI) CreateSecret(ctx context.Context, secret *corev1.Secret) error {
	_, err := f.c.Secrets(secret.Namespace).Create(ctx, secret, metav1.CreateOptions{})
	return err
}

func (f fakeAPI) UpdateSecret(ctx context.Context, secret *corev1.Secret) error {
	_, err := f.c.Secrets(secret.Namespace).Update(ctx, secret, metav1.UpdateOptions{})
	return err
}
