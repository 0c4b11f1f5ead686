"""Domain steps: plain functions over local files and typed options; no cloud, no job store."""
