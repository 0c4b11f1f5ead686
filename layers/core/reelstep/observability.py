"""One structured logger for the whole package, created once and imported everywhere.

Logs are JSON (aws-lambda-powertools) and carry ``job_id`` and ``step`` once appended. The CLI
lowers the level so progress bars stay readable; ``REELSTEP_LOG_LEVEL`` sets it everywhere else.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

SERVICE = "reelstep"

logger = Logger(service=SERVICE, level=os.environ.get("REELSTEP_LOG_LEVEL", "INFO"))
