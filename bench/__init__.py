"""Benchmarks of lsg-tf: each script times two sides of one comparison in one invocation."""
