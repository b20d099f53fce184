"""Batch jobs: files of /predict rows scored in the background, durably (README, "Batch jobs")."""
