"""Registry of institutions: lenders, collection agencies, regulators, and their licences."""
