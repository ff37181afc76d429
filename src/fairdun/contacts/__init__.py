"""Contact parties of a loan, the contact gate every contact passes, and the third-party shield."""
