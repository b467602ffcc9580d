"""One blueprint per concern of the local stack."""
