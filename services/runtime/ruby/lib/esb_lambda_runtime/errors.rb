# frozen_string_literal: true

module EsbLambdaRuntime
  # An exception reported to the Runtime API, in the shape of AWS's Ruby
  # runtime: errorType is "<Classification><ExceptionClass>" (Function<...>
  # for the handler's own errors, Init<...> for load-time ones).
  class ReportedError
    # The header AWS's client sends names only these classes; any other is
    # reported as Function<UserException>, so the header carries no user
    # class names.
    HEADER_CLASSES = %w[ArgumentError NoMethodError Exception StandardError NameError LoadError
                        SystemExit SystemStackError].freeze
    MAX_FRAMES = 100

    attr_reader :exception, :classification

    def initialize(exception, classification, runtime_dir)
      @exception = exception
      @classification = classification
      @runtime_dir = runtime_dir
    end

    def error_type
      "#{@classification}<#{@exception.class}>"
    end

    def header_type
      return error_type if HEADER_CLASSES.include?(@exception.class.to_s)

      "#{@classification}<UserException>"
    end

    def to_lambda_response
      {
        errorMessage: @exception.message,
        errorType: error_type,
        stackTrace: stack_trace
      }
    end

    # X-Ray's error cause document, as AWS's client sends it.
    def xray_cause
      JSON.generate(
        working_directory: Dir.pwd,
        exceptions: [{ type: @exception.class.to_s, message: @exception.message,
                       stack: (@exception.backtrace_locations || []).first(MAX_FRAMES).map do |l|
                         { path: l.path, line: l.lineno, label: l.label }
                       end }],
        paths: (@exception.backtrace_locations || []).map(&:path).uniq
      )
    end

    private

    # The user's frames: the trace stops at the first frame of the runtime
    # itself, which called the handler, or of the require that loaded the
    # handler's file.
    def stack_trace
      frames = []
      (@exception.backtrace || []).first(MAX_FRAMES).each do |line|
        break if line.start_with?(@runtime_dir) || line.include?('kernel_require.rb')

        frames << line
      end
      frames
    end
  end
end
