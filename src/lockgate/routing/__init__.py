"""Small/large routing: which model answers a turn, and the report of what it saved."""
