"""Serving: loaded models, scoring and routing, model changes across workers, and the HTTP edge."""
