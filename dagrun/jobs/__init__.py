"""The jobs module: loading it, finding each stage's function, and fingerprints of their code."""
