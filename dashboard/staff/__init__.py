"""Staff pages in the Django admin: the KPI overview and detail, the metric explorer and the metrics import."""
