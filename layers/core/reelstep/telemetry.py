"""Tracing and metrics for the pipeline's Lambda handlers (aws-lambda-powertools).

Kept apart from ``observability`` (the logger every module imports) because the tracer loads the
X-Ray SDK, about a quarter of a second that the API's cold start does not pay. The tracer switches
itself off outside Lambda; metrics are only emitted on the AWS backend, where CloudWatch reads them
from the log (embedded metric format), so local runs never print metric documents.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from reelstep.observability import SERVICE
from reelstep.settings import Settings

NAMESPACE = "Reelstep"

tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def record_task(settings: Settings, task: str, *, outcome: str, seconds: float) -> None:
    """One invocation of a pipeline task: a count by outcome and its duration, per task."""
    if settings.backend != "aws":
        return
    metrics.add_dimension(name="task", value=task)
    metrics.add_metric(name=f"Task{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TaskSeconds", unit=MetricUnit.Seconds, value=round(seconds, 3))
    metrics.flush_metrics()
