# frozen_string_literal: true

# ESB's Lambda runtime client for Ruby. It speaks the Lambda Runtime API
# (GET .../invocation/next, POST .../response, .../error, .../init/error)
# as AWS's own client (aws_lambda_ric) does, so a function that works here
# works on AWS Lambda unchanged. Standard library only: the image must not
# depend on rubygems.org.

require 'json'
require 'stringio'
require_relative 'context'
require_relative 'errors'
require_relative 'handler'
require_relative 'logging'
require_relative 'runtime_api'

module EsbLambdaRuntime
  RUNTIME_DIR = File.expand_path('..', __dir__)

  # Exit codes of AWS's client: a load-time failure, and an exception that
  # is not a StandardError (or a NoMethodError/NameError, which mean the
  # handler itself is broken) escaping the handler.
  EXIT_INIT_ERROR = 252
  EXIT_CRITICAL = 255

  # Everything the runtime takes from its command line and environment,
  # read once.
  Config = Struct.new(:handler, :runtime_api, :task_root, :log_format, :function_env, keyword_init: true)

  def self.config_from(argv, env)
    handler = argv[0] || env['_HANDLER']
    raise ArgumentError, 'no handler: pass it as the first argument or set _HANDLER' if handler.nil? || handler.empty?

    api = env['AWS_LAMBDA_RUNTIME_API']
    raise ArgumentError, 'AWS_LAMBDA_RUNTIME_API is not set' if api.nil? || api.empty?

    Config.new(handler: handler, runtime_api: api,
               task_root: env['LAMBDA_TASK_ROOT'] || Dir.pwd,
               log_format: env['AWS_LAMBDA_LOG_FORMAT'].to_s.upcase == 'JSON' ? 'JSON' : 'TEXT',
               function_env: FunctionEnv.from(env))
  end

  # Serves invocations of one handler against one Runtime API.
  class Runtime
    def initialize(config, api, holder, out)
      @config = config
      @api = api
      @holder = holder
      @out = out
    end

    # Loads the handler; on failure reports an init error and returns false
    # (the caller then exits non-zero, as Lambda expects).
    def init
      @handler = Handler.parse(@config.handler)
      @handler.load(@config.task_root)
      true
    rescue Exception => e # rubocop:disable Lint/RescueException -- a SyntaxError or LoadError is an init error too
      err = ReportedError.new(e, 'Init', RUNTIME_DIR)
      log_error("Init error when loading handler #{@config.handler}", err)
      @api.post_init_error(err.to_lambda_response, err.header_type)
      false
    end

    # Returns the exit code once an invocation ended the process.
    def serve_forever
      loop do
        code = serve_one
        return code if code
      end
    end

    # Serves one invocation; returns an exit code when the runtime must stop.
    def serve_one
      inv = @api.next_invocation
      @holder.request_id = inv.request_id
      trace_id = inv.header('Lambda-Runtime-Trace-Id')
      if trace_id
        ENV['_X_AMZN_TRACE_ID'] = trace_id
      else
        ENV.delete('_X_AMZN_TRACE_ID')
      end
      invoke(inv)
    end

    private

    def invoke(inv)
      begin
        context = LambdaContext.new(inv, @config.function_env)
        event = unmarshal(inv)
      rescue ContextParseError, JSON::ParserError => e
        return report(inv, ReportedError.new(e, 'Runtime', RUNTIME_DIR), nil)
      end
      begin
        response = @handler.call(event, context)
        body, content_type = marshal(response)
      rescue NoMethodError, NameError => e
        # The handler method or class is missing or broken: AWS's client
        # reports it and stops, so the next invocation starts afresh.
        return report(inv, ReportedError.new(e, 'Function', RUNTIME_DIR), EXIT_CRITICAL, 'Critical exception from handler')
      rescue StandardError => e
        return report(inv, ReportedError.new(e, 'Function', RUNTIME_DIR), nil)
      rescue Exception => e # rubocop:disable Lint/RescueException -- as AWS: anything else ends the process
        return report(inv, ReportedError.new(e, 'Function', RUNTIME_DIR), EXIT_CRITICAL, 'Critical exception from handler')
      end
      status = @api.post_response(inv.request_id, body, content_type)
      warn "runtime api refused the response of #{inv.request_id}: status #{status}" unless status == 202
      nil
    end

    def report(inv, err, exit_code, message = 'Error raised from handler method')
      log_error(message, err)
      @api.post_error(inv.request_id, err.to_lambda_response, err.header_type, err.xray_cause)
      exit_code
    end

    # JSON events are parsed; any other payload is handed over as the raw
    # string, as AWS's marshaller does.
    def unmarshal(inv)
      content_type = inv.header('Content-Type')
      return inv.body unless content_type.nil? || content_type == 'application/json'

      JSON.parse(inv.body)
    end

    # An IO or StringIO is sent as is (application/unknown); anything else as
    # its to_json.
    def marshal(response)
      case response
      when StringIO, IO
        [response.read, 'application/unknown']
      else
        [response.to_json, 'application/json']
      end
    end

    # AWS's client prints the message, then the error report as pretty JSON.
    def log_error(message, err)
      @out.puts(message)
      @out.puts(JSON.pretty_generate(err.to_lambda_response))
    end
  end

  def self.main(argv, env)
    $stdout.sync = true
    $stderr.sync = true
    begin
      config = config_from(argv, env)
    rescue ArgumentError => e
      warn "esb lambda runtime: #{e.message}"
      return 2
    end
    $LOAD_PATH.unshift(config.task_root) unless $LOAD_PATH.include?(config.task_root)
    holder = RequestIdHolder.new
    install_logging(holder, config.log_format)
    runtime = Runtime.new(config, RuntimeAPI.new(config.runtime_api), holder, $stdout)
    return EXIT_INIT_ERROR unless runtime.init

    runtime.serve_forever
  end
end

exit(EsbLambdaRuntime.main(ARGV, ENV)) if $PROGRAM_NAME == __FILE__
