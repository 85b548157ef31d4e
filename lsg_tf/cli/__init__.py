"""Helpers of the command-line modules only (console hygiene, argparse types); library code
never imports this package."""
