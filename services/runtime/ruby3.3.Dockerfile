# Lambda base image for ruby3.3: same contract as public.ecr.aws/lambda/ruby
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# bundler serves the deploy step `bundle install` (gems into
# /var/task/vendor/bundle, where Lambda's GEM_PATH looks).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ruby3.3 ruby bundler ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=rie /aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
COPY ruby/bootstrap /var/runtime/
COPY ruby/lib/ /var/runtime/lib/
# chmod here, not in the context: files embedded in Go lose their mode bits.
RUN chmod 0755 /lambda-entrypoint.sh /var/runtime/bootstrap \
 && mkdir -p /var/task /opt/ruby/lib /opt/ruby/gems
# GEM_PATH and RUBYLIB as Lambda sets them: the function's vendored gems,
# then layers; the trailing ":" keeps Debian's own gem paths (bundler).
ENV LANG=C.UTF-8 \
    TZ=:/etc/localtime \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime \
    GEM_PATH=/var/task/vendor/bundle/ruby/3.3.0:/opt/ruby/gems/3.3.0: \
    RUBYLIB=/var/task:/var/runtime/lib:/opt/ruby/lib \
    AWS_EXECUTION_ENV=AWS_Lambda_ruby3.3
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["function.handler"]
