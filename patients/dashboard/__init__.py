"""The dashboard: live retention figures (`retention`), the summary tables (`models`) and their
rebuild (`summaries`), the figures read from them (`retention_summaries`, `rollups`, `cohorts`),
and its API view (`api`)."""
