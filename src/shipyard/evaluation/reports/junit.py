"""JUnit XML of the gates: one test case per gate, a failure element for each failed gate (for CI)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def render_junit(model: str, run_id: str, gates: list[dict[str, Any]], *,
                 validation_failure: str | None = None) -> str:
    suite = ET.Element("testsuite", name=f"shipyard gates: {model}", tests="0", failures="0", errors="0")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="run_id", value=run_id)
    failures = 0
    cases = 0
    if validation_failure is not None:
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"shipyard.{model}.validate", name="data validation")
        ET.SubElement(case, "failure", message=validation_failure, type="ValidationFailed").text = validation_failure
        failures += 1
    for g in gates:
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"shipyard.{model}.gates", name=g["gate"])
        value = "n/a" if g.get("value") is None else f"{g['value']:.6g}"
        detail = f"{g['gate']}: value {value}, threshold {g['threshold']:g}"
        if g.get("note"):
            detail += f" ({g['note']})"
        if not g["passed"]:
            failures += 1
            ET.SubElement(case, "failure", message=detail, type="GateFailed").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    root = ET.Element("testsuites", name="shipyard", tests=str(cases), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
