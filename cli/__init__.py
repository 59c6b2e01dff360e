"""flowctl command line."""
