"""The propagation engine: edge profile, encoder, local affinity, verification, slice-by-slice propagation (no file I/O)."""
