"""The OpenAI-compatible batch API — uploaded files, batches of requests, and a
low-priority background worker that survives restarts."""
