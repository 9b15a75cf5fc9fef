"""Encryption at rest: AES-GCM with a data key per tenant, each wrapped by a master key held
outside the store (an environment variable or a key file), behind a small KMS interface."""
