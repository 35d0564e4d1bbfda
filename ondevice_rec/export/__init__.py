"""Export toolchain: builds hash-verified model bundles. Needs the ``export`` extra (torch, optimum)."""
