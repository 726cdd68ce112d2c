"""Dashboard data models (metrics, KPIs, uploads) arrive with the dashboard issue."""
