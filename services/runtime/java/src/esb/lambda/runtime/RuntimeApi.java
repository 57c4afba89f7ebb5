package esb.lambda.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * RuntimeApi is the client of the Lambda Runtime API (2018-06-01). It uses
 * HttpURLConnection, whose keep-alive cache reuses one connection for the
 * strictly sequential protocol and which loads faster than java.net.http on
 * a cold start.
 */
final class RuntimeApi {
    static final String ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type";
    static final String XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause";
    // Lambda drops the X-Ray cause header above 1 MiB; AWS's clients skip it.
    private static final int MAX_XRAY_HEADER = 1024 * 1024;

    private final String base;

    RuntimeApi(String address) {
        this.base = "http://" + address + "/2018-06-01/runtime";
    }

    /** Invocation is one event as GET .../invocation/next hands it out. */
    static final class Invocation {
        final String requestId;
        final Map<String, String> headers; // lower-case names
        final byte[] body;

        Invocation(String requestId, Map<String, String> headers, byte[] body) {
            this.requestId = requestId;
            this.headers = headers;
            this.body = body;
        }

        String header(String name) {
            return headers.get(name.toLowerCase(java.util.Locale.ROOT));
        }
    }

    /** RuntimeApiException: the API answered what the runtime cannot go on from. */
    static final class RuntimeApiException extends IOException {
        private static final long serialVersionUID = 1L;

        RuntimeApiException(String message) {
            super(message);
        }
    }

    Invocation next() throws IOException {
        HttpURLConnection c = open("/invocation/next", "GET");
        // The next event may be minutes away: no read timeout on the long poll.
        c.setReadTimeout(0);
        int status = c.getResponseCode();
        byte[] body = readAll(status >= 400 ? c.getErrorStream() : c.getInputStream());
        if (status != 200) {
            throw new RuntimeApiException("runtime api invocation/next: status " + status + ": " + snippet(body));
        }
        Map<String, String> headers = new HashMap<>();
        for (Map.Entry<String, List<String>> e : c.getHeaderFields().entrySet()) {
            if (e.getKey() != null && !e.getValue().isEmpty()) {
                headers.put(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue().get(0));
            }
        }
        String id = headers.get("lambda-runtime-aws-request-id");
        if (id == null || id.isEmpty()) {
            throw new RuntimeApiException("runtime api invocation/next: missing Lambda-Runtime-Aws-Request-Id");
        }
        return new Invocation(id, headers, body);
    }

    /** Posts a result; returns the status so a refusal (413) is logged and the runtime goes on. */
    int postResponse(String requestId, byte[] body, String contentType) throws IOException {
        Map<String, String> h = new HashMap<>();
        h.put("Content-Type", contentType);
        return post("/invocation/" + escape(requestId) + "/response", body, h);
    }

    int postError(String requestId, byte[] error, String errorType, String xrayCause) throws IOException {
        Map<String, String> h = errorHeaders(errorType);
        if (xrayCause != null && xrayCause.getBytes(StandardCharsets.UTF_8).length < MAX_XRAY_HEADER) {
            h.put(XRAY_CAUSE_HEADER, xrayCause);
        }
        return post("/invocation/" + escape(requestId) + "/error", error, h);
    }

    int postInitError(byte[] error, String errorType) throws IOException {
        return post("/init/error", error, errorHeaders(errorType));
    }

    private static Map<String, String> errorHeaders(String errorType) {
        Map<String, String> h = new HashMap<>();
        h.put("Content-Type", "application/json");
        h.put(ERROR_TYPE_HEADER, errorType);
        return h;
    }

    private int post(String path, byte[] body, Map<String, String> headers) throws IOException {
        HttpURLConnection c = open(path, "POST");
        c.setDoOutput(true);
        c.setFixedLengthStreamingMode(body.length);
        for (Map.Entry<String, String> e : headers.entrySet()) {
            c.setRequestProperty(e.getKey(), e.getValue());
        }
        try (OutputStream out = c.getOutputStream()) {
            out.write(body);
        }
        int status = c.getResponseCode();
        byte[] answer = readAll(status >= 400 ? c.getErrorStream() : c.getInputStream());
        if (status != 202) {
            System.err.println("runtime api " + path + ": status " + status + ": " + snippet(answer));
        }
        return status;
    }

    private HttpURLConnection open(String path, String method) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(base + path).openConnection();
        c.setRequestMethod(method);
        c.setUseCaches(false);
        return c;
    }

    // Reading the body to its end returns the connection to the keep-alive
    // cache for the next request.
    private static byte[] readAll(InputStream in) throws IOException {
        if (in == null) {
            return new byte[0];
        }
        try (InputStream is = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            is.transferTo(out);
            return out.toByteArray();
        }
    }

    private static String snippet(byte[] body) {
        String s = new String(body, StandardCharsets.UTF_8);
        return s.length() > 512 ? s.substring(0, 512) : s;
    }

    private static String escape(String id) {
        return URLEncoder.encode(id, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
