"""FOCUS cloud bills: import (CSV, gzip CSV, Parquet), allocation rules, unallocated spend
and AI token usage. See ``finance/focus/importer.py`` for how an import works."""
