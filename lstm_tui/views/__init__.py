"""Containers that compose several widgets around one trace (TraceView)."""
