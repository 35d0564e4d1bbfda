"""What an open store keeps in memory: ``catalogue`` (the live catalogue: validated writes that embed only what
changed, removal, imports, listings) and ``snapshot`` (the arrays ranking reads, updated in place after this
process's own writes)."""
