"""Stage 3's search strategies (private; public names live in :mod:`mipro_core.samplers`)."""
