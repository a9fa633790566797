"""lookalike: find copied images in a local reference catalog."""
