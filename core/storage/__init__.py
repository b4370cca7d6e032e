"""Storage: the schema, every SQL statement, request history, prune and the columnar cache."""
# The audit log's table is defined beside its functions; importing it here puts it in models.Base.metadata
# (create_all, migration checks) whatever part of storage is imported first.
from core.storage import alerts as _alerts  # noqa: F401  (alert_rules, alert_deliveries)
from core.storage import audit as _audit  # noqa: F401
