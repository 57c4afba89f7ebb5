# frozen_string_literal: true

require 'json'
require 'logger'

module EsbLambdaRuntime
  # The current invocation's request id, shared by the loop and the log
  # formatters.
  class RequestIdHolder
    attr_accessor :request_id
  end

  # Logger lines as AWS's Ruby runtime writes them:
  # "I, [<time> #<pid>]  INFO <request id> -- <progname>: <message>".
  class TextLogFormatter < Logger::Formatter
    def initialize(holder)
      super()
      @holder = holder
    end

    def call(severity, time, progname, msg)
      line = format('%<sev>s, [%<time>s #%<pid>d] %<severity>5s %<id>s -- %<progname>s: %<msg>s',
                    sev: severity[0], time: format_datetime(time), pid: Process.pid, severity: severity,
                    id: @holder.request_id, progname: progname, msg: msg2str(msg))
      "#{line.encode('UTF-8', invalid: :replace, undef: :replace)}\n"
    end
  end

  # AWS_LAMBDA_LOG_FORMAT=JSON: one object per record.
  class JsonLogFormatter < Logger::Formatter
    def initialize(holder)
      super()
      @holder = holder
    end

    def call(severity, time, progname, msg)
      record = { timestamp: time.utc.strftime('%Y-%m-%dT%H:%M:%S.%6NZ'), level: severity,
                 message: msg.is_a?(Exception) ? msg.message : msg2str(msg), requestId: @holder.request_id }
      record[:logger] = progname.to_s unless progname.nil? || progname.to_s.empty?
      if msg.is_a?(Exception)
        record[:errorType] = msg.class.to_s
        record[:errorMessage] = msg.message
        record[:stackTrace] = Array(msg.backtrace)
      end
      "#{JSON.generate(record.compact)}\n"
    end
  end

  # Makes every Logger writing to stdout or stderr use the Lambda format,
  # as AWS's runtime patches Logger (its formatter only: a user's own
  # formatter still wins).
  module LoggerPatch
    class << self
      attr_accessor :formatter
    end

    def initialize(logdev, *args, **kwargs)
      super
      return unless logdev.nil? || logdev == $stdout || logdev == $stderr || logdev == STDOUT || logdev == STDERR

      @default_formatter = LoggerPatch.formatter if LoggerPatch.formatter
    end
  end

  def self.install_logging(holder, log_format)
    LoggerPatch.formatter = log_format == 'JSON' ? JsonLogFormatter.new(holder) : TextLogFormatter.new(holder)
    Logger.prepend(LoggerPatch) unless Logger.ancestors.include?(LoggerPatch)
  end
end
