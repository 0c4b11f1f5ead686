"""Thin, time-bounded wrappers around the ffmpeg and ffprobe binaries."""
