"""Results tables: per-item scores -> long summary -> task tables and the cross-model summary.

`summary` computes the statistics (means, bootstrap CIs, paired tests vs the reference),
`render` writes one task's table in three formats, `cross_model` the paper's main table.
The names below are the package's interface; the modules hold each one once.
"""

from steerbench.tables.cross_model import CROSS_COLUMNS, cross_model_summary, write_summary_tables
from steerbench.tables.render import fmt_num, tex_escape, write_task_tables
from steerbench.tables.summary import RUN_KEYS, SUMMARY_COLUMNS, read_summary, summarise, write_summary

__all__ = [
    "CROSS_COLUMNS", "RUN_KEYS", "SUMMARY_COLUMNS", "cross_model_summary", "fmt_num", "read_summary",
    "summarise", "tex_escape", "write_summary", "write_summary_tables", "write_task_tables",
]
