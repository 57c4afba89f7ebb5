# Lambda base image for python3.11: same contract as public.ecr.aws/lambda/python
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:bookworm-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# python3-pip serves the deploy step `pip install -t /var/task -r requirements.txt`;
# python3-boto3 stands in for the SDK that AWS's image bundles. Bookworm's
# boto3 (1.26) ignores AWS_ENDPOINT_URL_S3/_DYNAMODB, through which the
# platform points functions at its S3 and DynamoDB: boto3, botocore and
# s3transfer (pure Python, 3.8+) come from trixie, the rest from bookworm.
RUN echo "deb http://deb.debian.org/debian trixie main" >/etc/apt/sources.list.d/trixie.list \
 && printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/trixie \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
      python3-boto3/trixie python3-botocore/trixie python3-s3transfer/trixie \
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
    AWS_EXECUTION_ENV=AWS_Lambda_python3.11
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
