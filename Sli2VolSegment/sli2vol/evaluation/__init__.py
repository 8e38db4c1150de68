"""The paper's evaluation protocol on labelled volumes: cases, methods, reports, overlays."""
