# Installed by the deploy's `bundle install` from vendor/cache (a gem the
# test built): no gem server needed.
require 'esb_e2e_dep'

raise 'init asked to fail' if ENV['INIT_FAIL'] == '1'

ENV_KEYS = %w[AWS_EXECUTION_ENV AWS_LAMBDA_FUNCTION_NAME AWS_LAMBDA_FUNCTION_MEMORY_SIZE AWS_LAMBDA_FUNCTION_VERSION].freeze

def handler(event:, context:)
  puts "e2e-marker #{event['marker']}"
  raise 'asked to fail' if event['fail']

  {
    language: "ruby #{RUBY_VERSION}",
    requestId: context.aws_request_id,
    functionName: context.function_name,
    memory: context.memory_limit_in_mb.to_s,
    remaining: context.get_remaining_time_in_millis,
    env: ENV_KEYS.to_h { |k| [k, ENV[k]] },
    dep: EsbE2eDep.greet('ruby')
  }
end
