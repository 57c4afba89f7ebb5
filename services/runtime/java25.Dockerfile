# Lambda base image for java25: same contract as public.ecr.aws/lambda/java
# (code in /var/task, handler as CMD, RIE in front when run outside Lambda),
# with ESB's own runtime client. Build context: services/runtime.
# The Runtime Interface Emulator, prebuilt by scripts/setup.sh from
# services/lambda-rie (mirrored into the env registry by esb deploy).
FROM esb/lambda-rie:20261030222936-bef5c4ba774d AS rie

FROM debian:trixie-slim
# Set by `esb deploy --no-cache`: every RUN after it misses the cache.
ARG ESB_CACHEBUST
# A JRE only, as on Lambda: Debian's headless JRE carries the whole module
# image, jdk.compiler included, so javac still runs (java -m jdk.compiler/...)
# for the client here and for plain .java sources at deploy time (esb-javac).
# The client binds JSON with Debian's Jackson, on its own class path.
# The JRE's postinst links its man page: the slim base has no man1 dir.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-25-jre-headless libjackson2-databind-java ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=rie /aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
COPY java/bootstrap java/esb-javac /var/runtime/
COPY java/src/ /tmp/esb-java-src/
# chmod here, not in the context: files embedded in Go lose their mode bits.
RUN chmod 0755 /lambda-entrypoint.sh /var/runtime/bootstrap /var/runtime/esb-javac \
 && ln -s /var/runtime/esb-javac /usr/local/bin/esb-javac \
 && find /tmp/esb-java-src -name '*.java' >/tmp/esb-java-sources \
 && java -m jdk.compiler/com.sun.tools.javac.Main -encoding UTF-8 -d /tmp/esb-java-classes \
      -cp /usr/share/java/jackson-core.jar:/usr/share/java/jackson-annotations.jar:/usr/share/java/jackson-databind.jar \
      @/tmp/esb-java-sources \
 && java -m jdk.jartool/sun.tools.jar.Main --create --file /var/runtime/esb-lambda-runtime.jar -C /tmp/esb-java-classes . \
 && rm -rf /tmp/esb-java-src /tmp/esb-java-sources /tmp/esb-java-classes \
 && mkdir -p /var/task /opt/java/lib
# A class-data-sharing archive of what every start loads (the client,
# Jackson, the JDK classes they use): it halves the JVM's part of a cold
# start. Dumped with the bootstrap's own class path and GC.
RUN java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ArchiveClassesAtExit=/var/runtime/classes.jsa \
      -cp /var/runtime/esb-lambda-runtime.jar:/usr/share/java/jackson-core.jar:/usr/share/java/jackson-annotations.jar:/usr/share/java/jackson-databind.jar \
      esb.lambda.runtime.Main --cds-training
ENV LANG=C.UTF-8 \
    TZ=:/etc/localtime \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime \
    AWS_EXECUTION_ENV=AWS_Lambda_java25
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["example.Handler::handleRequest"]
