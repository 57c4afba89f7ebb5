# Lambda base image for python3.14: same contract as public.ecr.aws/lambda/python
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# python3-pip serves the deploy step `pip install -t /var/task -r requirements.txt`;
# python3-boto3 stands in for the SDK that AWS's image bundles. Python 3.14
# is Debian testing's (forky) python3; the packages come from there, their
# dependencies too (a newer libc among them), the rest of the image stays
# trixie. Testing's Release files expire within days of publication: a
# site building from a mirror snapshot must not be refused for that.
RUN echo "deb [check-valid-until=no] http://deb.debian.org/debian forky main" >/etc/apt/sources.list.d/forky.list \
 && printf 'Package: *\nPin: release n=forky\nPin-Priority: 100\n' >/etc/apt/preferences.d/forky \
 && apt-get update \
 && apt-get install -y --no-install-recommends -t forky python3 python3-boto3 python3-pip ca-certificates \
 && python3 -c 'import sys; assert sys.version_info[:2] == (3, 14), sys.version' \
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
    AWS_EXECUTION_ENV=AWS_Lambda_python3.14
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
