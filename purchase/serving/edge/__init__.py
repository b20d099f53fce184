"""The layers in front of every route: keys, rate and size limits, request ids, error bodies, the route table."""
