"""The report: figure captions whose numbers come from the data (:mod:`captions`,
:mod:`experiment_captions`, :mod:`grid_captions`, with :mod:`prose` for the numbers in them), the
claims table (:mod:`verdict_table`) and the report's first page (:mod:`landing`). Captions and
pages are rendered from the tables and the verdicts, never the other way round.
"""
