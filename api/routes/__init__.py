"""One router per resource: match, search, listings, index images, health, metrics."""
