#!/bin/sh
# Entrypoint of ESB's Lambda base images, same contract as AWS's
# /lambda-entrypoint.sh: the handler (the image CMD) is the only argument.
#
# The runtime is the image's own client at $LAMBDA_RUNTIME_DIR/bootstrap, or,
# in the provided.* images which have none, the function's own
# $LAMBDA_TASK_ROOT/bootstrap, else a layer's /opt/bootstrap (Lambda's order).
# Without AWS_LAMBDA_RUNTIME_API (a local run) it starts behind the Runtime
# Interface Emulator, which serves POST
# :8080/2015-03-31/functions/function/invocations; with it (on Lambda) it
# talks to Lambda's Runtime API directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" >&2
  exit 142
fi
export _HANDLER="$1"

task_bootstrap="${LAMBDA_TASK_ROOT:-/var/task}/bootstrap"
for bootstrap in "${LAMBDA_RUNTIME_DIR:-/var/runtime}/bootstrap" "$task_bootstrap" /opt/bootstrap ""; do
  [ -f "$bootstrap" ] && break
done
if [ -z "$bootstrap" ]; then
  # Started anyway: the invoke then fails with Runtime.InvalidEntrypoint, as
  # on Lambda, instead of a container that never comes up.
  echo "entrypoint: no bootstrap in the runtime, the task or a layer" >&2
  bootstrap="$task_bootstrap"
fi

if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec aws-lambda-rie "$bootstrap" "$_HANDLER"
fi
exec "$bootstrap" "$_HANDLER"
