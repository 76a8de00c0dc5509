"""`stele bench`: measured workloads, each against a baseline in the same run."""
