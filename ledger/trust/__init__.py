"""Trust anchors (the registry of roots) and the intake of digital signatures."""
