"""Background work: plain async functions over the database, and the scheduler wiring."""
