"""Synthscope worker: POST /process-report, the queue's target (DESIGN §4)."""
