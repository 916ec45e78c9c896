"""Moving runs between runyard and other trackers."""
