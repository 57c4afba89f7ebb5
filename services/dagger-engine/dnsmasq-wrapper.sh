#!/bin/sh
# The engine finds dnsmasq on PATH and runs it with a config that names its
# bridge but lets dnsmasq bind 0.0.0.0:53. On the host network that blocks
# every other env's engine (and answers DNS on all host interfaces), so bind
# only the addresses of the bridge it serves.
exec /usr/sbin/dnsmasq --bind-dynamic "$@"
