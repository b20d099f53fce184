"""Training: an event log (real or synthetic) to labelled examples, a fitted model and its test metrics."""
