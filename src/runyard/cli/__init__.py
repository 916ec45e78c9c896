"""The runyard command line."""
