"""pixseek benchmarks: `python -m bench.run_all` (or each module alone, with --quick for a smoke check).

Results are printed and merged into bench/results.json (flat keys); see bench/README.md.
"""
