# frozen_string_literal: true

require 'json'
require 'net/http'
require 'uri'

module EsbLambdaRuntime
  # The Runtime API answered with something the runtime cannot go on from.
  class RuntimeAPIError < StandardError; end

  # One event as GET /runtime/invocation/next hands it out. Header names
  # are kept as sent; Net::HTTP looks them up case-insensitively.
  Invocation = Struct.new(:request_id, :headers, :body, keyword_init: true) do
    def header(name)
      headers[name.downcase]
    end
  end

  # HTTP client for the Lambda Runtime API (2018-06-01) over one keep-alive
  # connection: the protocol is strictly sequential, next then one result.
  class RuntimeAPI
    BASE = '/2018-06-01/runtime'
    ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type'
    XRAY_CAUSE_HEADER = 'Lambda-Runtime-Function-XRay-Error-Cause'
    # Lambda drops the X-Ray cause header above 1 MiB; AWS's clients skip it.
    MAX_XRAY_HEADER = 1024 * 1024

    # address is host:port, possibly with a path (host:port/prefix): ESB's
    # gateway names each container's session by it, so every call goes
    # under it.
    def initialize(address)
      host_port, slash, path = address.partition('/')
      host, port = host_port.split(':', 2)
      @host = host
      @port = Integer(port || 80)
      @base = slash.empty? ? BASE : "/#{path.chomp('/')}#{BASE}"
      @http = nil
    end

    def next_invocation
      res = request(Net::HTTP::Get.new("#{@base}/invocation/next"))
      raise RuntimeAPIError, "runtime api invocation/next: status #{res.code}: #{res.body.to_s[0, 512]}" unless res.code == '200'

      request_id = res['Lambda-Runtime-Aws-Request-Id']
      raise RuntimeAPIError, 'runtime api invocation/next: missing Lambda-Runtime-Aws-Request-Id' if request_id.nil? || request_id.empty?

      headers = {}
      res.each_header { |k, v| headers[k.downcase] = v }
      Invocation.new(request_id: request_id, headers: headers, body: res.body.to_s)
    end

    # Returns the status so a refusal (413: response too large) is logged
    # and the runtime goes on, as on Lambda.
    def post_response(request_id, body, content_type)
      post("#{@base}/invocation/#{escape(request_id)}/response", body, 'Content-Type' => content_type)
    end

    def post_error(request_id, error, error_type, xray_cause = nil)
      headers = { 'Content-Type' => 'application/json', ERROR_TYPE_HEADER => error_type }
      headers[XRAY_CAUSE_HEADER] = xray_cause if xray_cause && xray_cause.bytesize < MAX_XRAY_HEADER
      post("#{@base}/invocation/#{escape(request_id)}/error", JSON.generate(error), headers)
    end

    def post_init_error(error, error_type)
      post("#{@base}/init/error", JSON.generate(error),
           'Content-Type' => 'application/json', ERROR_TYPE_HEADER => error_type)
    end

    private

    def post(path, body, headers)
      req = Net::HTTP::Post.new(path)
      headers.each { |k, v| req[k] = v }
      req.body = body
      res = request(req)
      warn "runtime api #{path}: status #{res.code}: #{res.body.to_s[0, 512]}" unless res.code == '202'
      res.code.to_i
    end

    # One retry on a fresh connection: a keep-alive socket the server closed
    # only shows up when it is used.
    def request(req)
      attempts = 0
      begin
        attempts += 1
        connection.request(req)
      rescue EOFError, Errno::ECONNRESET, Errno::EPIPE, IOError
        close
        retry if attempts < 2
        raise
      end
    end

    def connection
      return @http if @http&.started?

      @http = Net::HTTP.new(@host, @port)
      # The next event may be minutes away: no read timeout on the long poll.
      @http.read_timeout = nil
      @http.keep_alive_timeout = 3600
      @http.start
    end

    def close
      @http&.finish if @http&.started?
    rescue IOError
      nil
    ensure
      @http = nil
    end

    def escape(id)
      URI.encode_www_form_component(id).gsub('+', '%20')
    end
  end
end
