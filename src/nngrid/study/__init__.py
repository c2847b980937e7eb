"""The study side of nngrid: tables, claims, experiments, figures and the report."""
