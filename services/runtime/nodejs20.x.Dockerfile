# Lambda base image for nodejs20.x: same contract as public.ecr.aws/lambda/nodejs
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

# npm serves the deploy step `npm install --omit=dev`: the npm CLI from the
# npm registry (pinned by sha512) rather than Debian's npm, which brings its
# 200 dependencies as packages (130 MB more).
FROM debian:trixie-slim AS npm
ARG NPM_REGISTRY
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY nodejs/fetch-node.sh /usr/local/bin/fetch-node
RUN chmod 0755 /usr/local/bin/fetch-node \
 && fetch-node none - - 10.9.9 \
      d60fba8cb42f688b81e33c2f1cbef2ad7b977166700ec0ad057f1b6d60ea6ef2524abf673e20c35931cd8305d1dbb8887134d6eefdc0e7b8435bd458bf65b862 \
      /opt/node

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# Node.js 20 is Debian's own (trixie ships exactly that major).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=npm /opt/node/ /usr/local/
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
    NODE_PATH=/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task \
    AWS_EXECUTION_ENV=AWS_Lambda_nodejs20.x
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
