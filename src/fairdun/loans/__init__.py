"""The loan ledger: borrowers, loans, schedules, payments, days past due, true cost."""
