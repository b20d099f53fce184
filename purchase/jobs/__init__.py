"""Batch jobs: files of /predict rows scored in the background, durably (docs/how-to/batch-jobs.md)."""
