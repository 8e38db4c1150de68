"""Self-supervised training of the correspondence encoder on unlabelled volumes."""
