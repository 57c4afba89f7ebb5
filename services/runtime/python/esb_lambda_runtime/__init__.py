"""ESB's Lambda runtime client for Python.

It speaks the Lambda Runtime API (GET .../invocation/next, POST .../response,
.../error, .../init/error) exactly as AWS's own client (awslambdaric) does, so
a function that works here works on AWS Lambda unchanged. Standard library
only: the image must not depend on PyPI.
"""
