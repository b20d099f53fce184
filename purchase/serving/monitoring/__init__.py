"""What the server reports about its models: drift over a window, request counts per version."""
