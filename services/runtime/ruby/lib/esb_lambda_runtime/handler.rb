# frozen_string_literal: true

module EsbLambdaRuntime
  # The handler string, split as Lambda's Ruby runtime reads it:
  # "file.method" calls a top-level method of file.rb, and
  # "file.Module::Class.method" a class-level method of that class. The file
  # is everything before the first dot, relative to the task root
  # ("lib/app.handler" loads lib/app.rb).
  class Handler
    attr_reader :file, :klass, :method_name

    def self.parse(handler)
      file, rest = handler.split('.', 2)
      if file.nil? || file.empty? || rest.nil? || rest.empty?
        raise ArgumentError, "Invalid handler #{handler}, must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD " \
                             'where FILENAME corresponds with an existing Ruby source file FILENAME.rb, CLASS is an ' \
                             'optional module/class namespace and METHOD is a callable method. If using CLASS, METHOD ' \
                             'must be a class-level method.'
      end
      klass, _, method_name = rest.rpartition('.')
      new(file, klass.empty? ? nil : klass, method_name)
    end

    def initialize(file, klass, method_name)
      @file = file
      @klass = klass
      @method_name = method_name
    end

    # Loads the handler's file; load-time errors (LoadError, SyntaxError,
    # an exception in the file's body) propagate as they are.
    def load(task_root)
      require File.join(task_root, @file)
    end

    # Calls the handler as AWS does, with keyword arguments.
    def call(event, context)
      if @klass
        Object.const_get(@klass).public_send(@method_name, event: event, context: context)
      else
        # Top-level methods are private methods of Object: __send__ reaches
        # them, as AWS's runtime calls them.
        TOPLEVEL_BINDING.receiver.__send__(@method_name, event: event, context: context)
      end
    end
  end
end
