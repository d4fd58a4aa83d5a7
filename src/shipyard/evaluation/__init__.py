"""Model evaluation: metrics, slices, fairness, robustness, efficiency, bootstrap intervals, reports."""
