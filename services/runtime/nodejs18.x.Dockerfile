# Lambda base image for nodejs18.x: same contract as public.ecr.aws/lambda/nodejs
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Debian ships Node.js 20 only: the official
# Node.js 18 binary comes from the npm registry (node-linux-<arch>), pinned
# by version and sha512. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:trixie-slim AS node
ARG TARGETARCH
ARG NPM_REGISTRY
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY nodejs/fetch-node.sh /usr/local/bin/fetch-node
RUN chmod 0755 /usr/local/bin/fetch-node \
 && fetch-node 18.20.8 \
      256513c19f6f30e8d95ccb6205cef83999f5d835dbe2c90a7d8e0d972735ed2b3c0536b18f0917030eb165bd0293969f51853f9de05bac78e8f4eddb685df8c3 \
      c5330962d2dd2e32229a1f334698140c5b0d9272cfef6013fd05844267b20ce335fc6aa3fc6667fcc95b03ecd64a348c07142c718be0169ab7a8444c11c14450 \
      10.9.9 \
      d60fba8cb42f688b81e33c2f1cbef2ad7b977166700ec0ad057f1b6d60ea6ef2524abf673e20c35931cd8305d1dbb8887134d6eefdc0e7b8435bd458bf65b862 \
      /opt/node

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=node /opt/node/ /usr/local/
COPY --from=rie /aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
COPY nodejs/bootstrap nodejs/index.mjs /var/runtime/
COPY nodejs/lib/ /var/runtime/lib/
# chmod here, not in the context: files embedded in Go lose their mode bits.
RUN chmod 0755 /lambda-entrypoint.sh /var/runtime/bootstrap \
 && mkdir -p /var/task /opt
# NODE_PATH as Lambda sets it: layers (/opt/nodejs/...) then the runtime and task.
ENV LANG=C.UTF-8 \
    TZ=:/etc/localtime \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime \
    NODE_PATH=/opt/nodejs/node18/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task \
    AWS_EXECUTION_ENV=AWS_Lambda_nodejs18.x
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
