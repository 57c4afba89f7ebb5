package pipeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublishRef(t *testing.T) {
	tests := []struct {
		name, image, registry, want string
	}{
		{name: "no registry: the config's ref", image: "127.0.0.1:5010/esb-dev/hello:latest", want: "127.0.0.1:5010/esb-dev/hello:latest"},
		{name: "containerd mode: host port of the node's registry", image: "registry:5000/esb-dev/hello:e2e", registry: "127.0.0.1:6310", want: "127.0.0.1:6310/esb-dev/hello:e2e"},
		{name: "no tag", image: "registry:5000/esb-dev/hello", registry: "127.0.0.1:5010", want: "127.0.0.1:5010/esb-dev/hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PublishRef(tt.image, tt.registry)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := PublishRef("Not A Ref", "127.0.0.1:5010")
	assert.Error(t, err)
}
