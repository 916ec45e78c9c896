"""Metric transport (spool writer, ingester) and metric shaping."""
