"""lsg-tf: interpretable CNNs with Label-Sensitive Gates (class-specific filters)."""
