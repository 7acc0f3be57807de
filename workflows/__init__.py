"""Flow definitions as data, and the engine that loads, validates and runs them."""
