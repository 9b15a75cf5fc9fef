"""One module per dashboard page (or group of pages)."""
