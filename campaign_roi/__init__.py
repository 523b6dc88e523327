"""campaign-roi: which channels and campaigns really pay.

Heavy libraries (duckdb, polars, altair) are imported lazily by the modules that use them,
so ``import campaign_roi`` and ``campaign-roi --help`` stay fast.
"""

__version__ = "0.1.0"
