"""The CoSA MIP scheduler (python-mip + CBC)."""
