"""Run reports: one self-contained HTML page (plots, credit, prompt diffs) of a journal,
an artifact or an optimization result. See :func:`write_report`.

Only :mod:`._write` is imported here, and it imports the rest when a report is written, so
``import mipro_core`` does not pay for the report's modules.
"""

from ._write import load_report_data, write_report

__all__ = ["load_report_data", "write_report"]
