"""Report writers: report.json, a self-contained HTML report, JUnit XML of the gates, model cards."""
