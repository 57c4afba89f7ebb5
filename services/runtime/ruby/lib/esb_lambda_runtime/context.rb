# frozen_string_literal: true

require 'json'

module EsbLambdaRuntime
  # The environment the context reports, read once at start so handler code
  # changing ENV cannot change what the context says.
  FunctionEnv = Struct.new(:function_name, :function_version, :memory_limit_in_mb,
                           :log_group_name, :log_stream_name, keyword_init: true) do
    def self.from(env)
      new(function_name: env['AWS_LAMBDA_FUNCTION_NAME'],
          function_version: env['AWS_LAMBDA_FUNCTION_VERSION'],
          # A string, as on AWS: it is the environment variable's text.
          memory_limit_in_mb: env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
          log_group_name: env['AWS_LAMBDA_LOG_GROUP_NAME'],
          log_stream_name: env['AWS_LAMBDA_LOG_STREAM_NAME'])
    end
  end

  # A client-context or cognito-identity header that is not JSON.
  class ContextParseError < StandardError; end

  # The handler's context: argument, with the methods AWS's Ruby runtime
  # gives it.
  class LambdaContext
    attr_reader :aws_request_id, :invoked_function_arn, :log_group_name,
                :log_stream_name, :function_name, :memory_limit_in_mb, :function_version,
                :identity, :client_context, :deadline_ms

    def initialize(invocation, function_env)
      @deadline_ms = invocation.header('Lambda-Runtime-Deadline-Ms').to_i
      @aws_request_id = invocation.request_id
      @invoked_function_arn = invocation.header('Lambda-Runtime-Invoked-Function-Arn')
      @log_group_name = function_env.log_group_name
      @log_stream_name = function_env.log_stream_name
      @function_name = function_env.function_name
      @memory_limit_in_mb = function_env.memory_limit_in_mb
      @function_version = function_env.function_version
      @identity = parse_json(invocation.header('Lambda-Runtime-Cognito-Identity'), 'Cognito Identity')
      @client_context = parse_json(invocation.header('Lambda-Runtime-Client-Context'), 'Client Context')
    end

    def get_remaining_time_in_millis # rubocop:disable Naming/AccessorMethodName -- AWS's name
      remaining = @deadline_ms - Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      remaining.positive? ? remaining : 0
    end

    private

    def parse_json(value, name)
      return nil if value.nil? || value.empty?

      JSON.parse(value)
    rescue JSON::ParserError => e
      raise ContextParseError, "Unable to parse #{name} JSON: #{e.message}"
    end
  end
end
