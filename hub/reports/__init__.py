"""The figures the dashboards show: daily aggregates kept up to date by a job, read by the web layer (being built)."""
