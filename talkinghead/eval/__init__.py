"""Evaluation: lip-sync, stability and identity metrics, and the eval reports."""
