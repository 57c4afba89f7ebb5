package esb.lambda.runtime;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * LogSink writes what LambdaLogger and the runtime's error reports log, in
 * the formats of AWS's Java runtime: text (the message as is) or, with
 * AWS_LAMBDA_LOG_FORMAT=JSON, one object per message ({timestamp, message,
 * level, AWSRequestId}). AWS_LAMBDA_LOG_LEVEL drops messages below it;
 * messages logged without a level always pass, as on AWS. System.out
 * stays untouched in both formats, as on AWS.
 */
final class LogSink {
    private static final List<String> LEVELS = List.of("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL");
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'");

    private final PrintStream out;
    private final boolean json;
    private final int minLevel; // index in LEVELS; -1 lets everything through
    private final Json codec;
    private volatile String requestId;

    LogSink(PrintStream out, String format, String level, Json codec) {
        this.out = out;
        this.json = "JSON".equalsIgnoreCase(format);
        this.minLevel = level == null ? -1 : LEVELS.indexOf(level.toUpperCase(Locale.ROOT));
        this.codec = codec;
    }

    /** setRequestId names the invocation JSON records belong to. */
    void setRequestId(String id) {
        this.requestId = id;
    }

    /** log writes a message with a level name (UNDEFINED when the caller gave none). */
    void log(String message, String level) {
        int at = LEVELS.indexOf(level);
        if (at >= 0 && at < minLevel) {
            return;
        }
        if (!json) {
            write(message.getBytes(StandardCharsets.UTF_8));
            return;
        }
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("timestamp", TIME.format(ZonedDateTime.now(ZoneOffset.UTC)));
        record.put("message", message);
        record.put("level", level);
        record.put("AWSRequestId", requestId);
        try {
            byte[] line = codec.write(record);
            write(line);
            write(new byte[] {'\n'});
        } catch (IOException e) {
            write(message.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** log writes raw bytes: AWS formats no byte[] message, in either format. */
    void log(byte[] message, String level) {
        int at = LEVELS.indexOf(level);
        if (at >= 0 && at < minLevel) {
            return;
        }
        write(message);
    }

    /** error logs a report of the runtime: at ERROR in JSON, as is in text. */
    void error(String report) {
        log(report, json ? "ERROR" : "UNDEFINED");
    }

    private void write(byte[] b) {
        synchronized (out) {
            out.write(b, 0, b.length);
            out.flush();
        }
    }
}
