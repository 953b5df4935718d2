"""Progress off a terminal: plain lines (done/total, rate, ETA) a Snakemake job log can show."""

from __future__ import annotations

import io
import re

from steerbench.progress import Progress, progress_iter

LINE = re.compile(r"^extract L13: (\d+)/10 text \((\d+)%\), [0-9.e+-]+ text/s, (ETA \d+:\d\d|done in \d+:\d\d)$")


def test_lines_off_a_terminal_have_count_rate_and_eta():
    out = io.StringIO()  # not a tty, like a job's log file
    bar = Progress(10, "extract L13", "text", every_s=0.0, stream=out)
    for _ in range(10):
        bar.update(1)
    bar.close()
    bar.close()  # closing twice prints nothing more
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # 9 while running (every_s=0), then the closing line
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == list(range(1, 11))
    assert matches[0].group(3).startswith("ETA") and matches[-1].group(3).startswith("done in")
    assert "\r" not in out.getvalue()


def test_lines_are_rate_limited_and_carry_extra_info():
    out = io.StringIO()
    with Progress(1000, "fit", "step", every_s=3600.0, stream=out) as bar:
        for _ in range(1000):
            bar.update(1, loss=0.25)
    lines = out.getvalue().splitlines()
    assert lines == [lines[-1]] and lines[-1].startswith("fit: 1000/1000 step (100%)") and lines[-1].endswith(" loss=0.25")


def test_progress_iter_yields_every_item_and_reports_the_end(capsys):
    assert list(progress_iter(range(5), "rows")) == [0, 1, 2, 3, 4]
    assert re.search(r"rows: 5/5 it \(100%\)", capsys.readouterr().err)
