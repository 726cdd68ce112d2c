"""Staff pages in the Django admin: the KPI overview and detail, the metric explorer, the metrics import, alert
rules' events and boards."""
