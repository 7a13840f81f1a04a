"""streammeter: exact video delivery usage metering.

Data flows one way through the subpackages:

    sources  -> read delivery data (files, HTTP batches) into raw records
    counting -> apply the counting contract (docs/counting.md) to each record
    ingest   -> receipts, dedupe, quarantine; one transaction per file or batch
    store    -> the embedded DuckDB store: catalog, records, hourly/daily/monthly rollups
    query    -> windows and the delivery-usage query
    api, cli -> the HTTP service (Mux-compatible and native) and the command line
"""

__version__ = "0.1.0"
