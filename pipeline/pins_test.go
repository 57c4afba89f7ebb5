package pipeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPinFrom(t *testing.T) {
	pins := map[string]string{
		"debian:trixie-slim":        "debian:trixie-slim@sha256:aaa",
		"esb/lambda-rie:1.0-abcdef": "esb/lambda-rie:1.0-abcdef@sha256:bbb",
	}
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "FROM debian:trixie-slim\nRUN true\n", want: "FROM debian:trixie-slim@sha256:aaa\nRUN true\n"},
		{name: "stage and platform flag", in: "FROM --platform=$BUILDPLATFORM esb/lambda-rie:1.0-abcdef AS rie\nfrom debian:trixie-slim\nCOPY --from=rie /x /x\n",
			want: "FROM --platform=$BUILDPLATFORM esb/lambda-rie:1.0-abcdef@sha256:bbb AS rie\nfrom debian:trixie-slim@sha256:aaa\nCOPY --from=rie /x /x\n"},
		{name: "tabs", in: "FROM\tdebian:trixie-slim\n", want: "FROM debian:trixie-slim@sha256:aaa\n"},
		{name: "a stage and an unknown image stay", in: "FROM golang:1.26 AS build\nFROM build\n", want: "FROM golang:1.26 AS build\nFROM build\n"},
		{name: "the image named in a RUN line stays", in: "RUN echo debian:trixie-slim\n", want: "RUN echo debian:trixie-slim\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PinFrom(tt.in, pins))
		})
	}
	assert.Equal(t, "FROM debian:trixie-slim\n", PinFrom("FROM debian:trixie-slim\n", nil))
}
