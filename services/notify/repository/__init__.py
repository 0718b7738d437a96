"""The notify service's SQL, by aggregate: `endpoints` (with templates) and `deliveries`."""
