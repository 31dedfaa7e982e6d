"""The serving loop's two Lambdas: the team account's deployer (handler.py) and the central
account's status writer (status_writer.py). Shipped as one archive (build.py); no dependency
beyond the Lambda runtime's boto3."""
