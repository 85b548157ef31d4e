"""Small reporting helpers shared by analyses and pages: intervals (stats), number formatting
and the paper's published numbers (one home)."""
