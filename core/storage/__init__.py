"""Storage: the schema, every SQL statement, request history, prune and the columnar cache."""
