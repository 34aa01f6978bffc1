"""Benchmarks: ``python -m bench [name ...] [--rows N]`` (see ``bench/__main__.py``)."""
