"""Where `runyard ui` serves by default (see runyard/portal.py, which the run handle uses too)."""

from runyard.portal import DEFAULT_HOST, DEFAULT_PORT, base_url, run_page_url

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "base_url", "run_page_url"]
