"""The sandbox's Lambda runtime: `python -m sandbox.lambda_runtime module.function` calls the
handler with the event read from stdin, in a process of its own whose environment is the
function's (sandbox/serving.py starts it), and prints its result as JSON."""

import importlib
import json
import logging
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    module, _, name = argv[0].rpartition(".")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    handler = getattr(importlib.import_module(module), name)
    result = handler(json.loads(sys.stdin.read()), None)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
