#!/bin/sh
# Function containers reach the platform network through this node: the
# agent's CNI bridge masquerades their traffic, which needs forwarding on.
set -eu
echo 1 > /proc/sys/net/ipv4/ip_forward
exec containerd --config /etc/containerd/config.toml "$@"
