"""fairdun: fair dunning, lawful and humane handling of overdue consumer loans."""

__version__ = "0.1.0"
