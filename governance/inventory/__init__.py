"""Import and export of AI use-case inventories (spreadsheets an organisation keeps).

- ``reader``: bytes -> header + rows (CSV or XLSX, encoding detection, header search).
- ``mapping``: the declarative mapping (TOML or JSON) and the value parsers.
- ``importer``: ``inventory_import``, the service that writes units, initiatives,
  risk assessments and control attestations.
- ``exporter``: the OMB 2025 column layout, as CSV or XLSX.
"""
