"""Fault-injection suite fixtures: each scenario records what it did in `fault_report`.

    def test_x(fault_report):
        report = fault_report("controller SIGKILL under load")
        report.fault("SIGKILL controller")     # one injected fault
        report.check(ok, "every lease kept")   # asserts, and counts a passed check
        report.lost(0)                         # leases/IPs lost (must end at 0)

At the end of the session `pytest_terminal_summary` prints one row per
scenario: faults injected, checks passed, leases/IPs lost, outcome.
"""

import pytest

_RESULTS: list["FaultReport"] = []


class FaultReport:
    """What one scenario injected and verified."""

    def __init__(self, scenario: str):
        self.scenario = scenario
        self.faults: list[str] = []
        self.checks = 0
        self.lost_count = 0
        self.failed: str | None = None

    def fault(self, what: str) -> None:
        self.faults.append(what)

    def check(self, condition, message: str) -> None:
        """Assert `condition`: a pass is counted, a failure fails the test."""
        if not condition:
            self.failed = message
            pytest.fail(f"{self.scenario}: {message}")
        self.checks += 1

    def lost(self, count: int, what: str = "leases/IPs") -> None:
        """Record `count` lost items and check it is zero."""
        self.lost_count += count
        self.check(count == 0, f"{count} {what} lost")


@pytest.fixture
def fault_report(request):
    """`fault_report(name)`: a FaultReport for this test, shown in the summary."""
    made: list[FaultReport] = []

    def make(scenario: str) -> FaultReport:
        report = FaultReport(scenario)
        made.append(report)
        _RESULTS.append(report)
        return report

    yield make
    failed = getattr(request.node, "_fault_failed", False)
    for report in made:
        if failed and report.failed is None:
            report.failed = "test failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if outcome.get_result().failed:
        item._fault_failed = True


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    rows = [
        (
            r.scenario,
            str(len(r.faults)),
            str(r.checks),
            str(r.lost_count),
            "ok" if r.failed is None else "FAILED",
        )
        for r in _RESULTS
    ]
    header = ("scenario", "faults injected", "checks passed", "leases/IPs lost", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]

    def line(row):
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        )

    terminalreporter.section("fault injection summary")
    terminalreporter.write_line(line(header))
    terminalreporter.write_line(line(tuple("-" * w for w in widths)))
    for row in rows:
        terminalreporter.write_line(line(row))
    terminalreporter.write_line("faults injected, by scenario:")
    for r in _RESULTS:
        terminalreporter.write_line(f"  {r.scenario}: {'; '.join(r.faults) or '-'}")
    total_lost = sum(r.lost_count for r in _RESULTS)
    terminalreporter.write_line(
        f"total: {sum(len(r.faults) for r in _RESULTS)} faults, "
        f"{sum(r.checks for r in _RESULTS)} checks passed, {total_lost} leases/IPs lost"
    )
