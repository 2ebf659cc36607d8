"""Corpus v2: plan the allowed sources under one budget table, render, debias, split, summarise."""

from .budgets import BUDGET_MINUTES
from .build import build_corpus

__all__ = ["BUDGET_MINUTES", "build_corpus"]
