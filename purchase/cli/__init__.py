"""Command-line tools: train a version, manage the registry, build a Bento."""
