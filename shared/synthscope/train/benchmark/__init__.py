"""Leave-one-source-out benchmark (DESIGN §6): the figures that decide between models.

`protocol` (folds), `cache` + `extractors` + `extract` (features computed once),
`heads` + `registry` (what is refitted per fold), `folds` (one fold), `run` (the whole
run), `results` (mean / worst), `report` (Markdown, JSON, heat map, console).
"""
