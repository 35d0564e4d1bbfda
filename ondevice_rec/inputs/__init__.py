"""What callers hand in, checked before anything is stored or ranked:

- ``items`` (catalogue items: validation, the demo catalogue, item files), ``event_rows`` (events and event
  files' columns), ``files`` (reading CSV/TSV/JSONL files: BOM, quoting, row numbers in errors),
- ``imports`` (all-or-nothing file imports with a report), ``requests`` (the arguments of ``open`` and
  ``recommend``, pages of listings), ``limits`` (every bound the SDK enforces, in one table).
"""
