"""Run reports: one self-contained HTML page (plots, credit, prompt diffs) of a journal,
an artifact or an optimization result. See :func:`write_report`."""

from ._data import ChoiceScore, ModuleReport, ReportData, Section
from ._write import load_report_data, write_report

__all__ = [
    "ChoiceScore",
    "ModuleReport",
    "ReportData",
    "Section",
    "load_report_data",
    "write_report",
]
