"""Evaluate a model bundle: per source, engine, kind, codec and detector, or on a user's own files.

`scoring` turns clips into clip-level P(ai) under codec conditions, `summary` slices them into
metrics, `tables` and `plots` show them, `user_files` and `report` serve `evaluate --files`,
and `run` ties each evaluation together.
"""

from synthscope.train.evaluation.plots import write_plots
from synthscope.train.evaluation.run import FILES_CODECS, evaluate, evaluate_files
from synthscope.train.evaluation.scoring import DEFAULT_CODECS, Clip, read_manifest, shipped_threshold
from synthscope.train.evaluation.tables import markdown_tables, render_tables
from synthscope.train.evaluation.user_files import UserFilesError, read_user_files

__all__ = [
    "DEFAULT_CODECS",
    "FILES_CODECS",
    "Clip",
    "UserFilesError",
    "evaluate",
    "evaluate_files",
    "markdown_tables",
    "read_manifest",
    "read_user_files",
    "render_tables",
    "shipped_threshold",
    "write_plots",
]
