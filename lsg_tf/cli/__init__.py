"""Helpers of the command-line modules only (the absl entry point, console hygiene,
argparse types); library code never imports this package."""
