"""runyard's server: the store over a versioned REST API, live logs, files, and the web UI."""
