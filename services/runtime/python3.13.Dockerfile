# Lambda base image for python3.13: same contract as public.ecr.aws/lambda/python
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# python3-pip serves the deploy step `pip install -t /var/task -r requirements.txt`;
# python3-boto3 stands in for the SDK that AWS's image bundles.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-boto3 python3-pip ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=rie /aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
COPY python/bootstrap python/bootstrap.py /var/runtime/
COPY python/esb_lambda_runtime/ /var/runtime/esb_lambda_runtime/
# chmod here, not in the context: files embedded in Go lose their mode bits.
# Byte-compiling the client saves that work on every cold start.
RUN chmod 0755 /lambda-entrypoint.sh /var/runtime/bootstrap \
 && python3 -m compileall -q /var/runtime \
 && mkdir -p /var/task /opt
ENV LANG=C.UTF-8 \
    TZ=:/etc/localtime \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime \
    AWS_EXECUTION_ENV=AWS_Lambda_python3.13
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
