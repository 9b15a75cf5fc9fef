"""State shared by gateway processes in Redis: the connection, key names, and what a
mechanism does when Redis does not answer (client.py)."""
