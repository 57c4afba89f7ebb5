"""Starts ESB's Python Lambda runtime client (see esb_lambda_runtime)."""

import sys

from esb_lambda_runtime.runtime import main

if __name__ == "__main__":
    sys.exit(main())
