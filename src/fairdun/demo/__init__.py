"""Demo data for `make demo`: institutions of every kind and one user per role."""
