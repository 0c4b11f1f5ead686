"""reelstep: one video pipeline, serverless on AWS or in one command locally."""

__version__ = "0.1.0"
