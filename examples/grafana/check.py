#!/usr/bin/env python3
"""Checks examples/grafana/meshwasm-dashboard.json:

- importing it asks for the Prometheus data source (`__inputs` DS_PROMETHEUS,
  `__requires`), which becomes the default of the `datasource` variable;
- every panel, target and query variable reads from `${datasource}`;
- the metric prefix is the `prefix` variable (default `meshwasm`), never
  written out: the metrics filter's metrics are `${prefix}_...`, and the auth,
  rate-limit and header-router counters, whose names are fixed, `meshwasm_...`;
- every metric a query names is one the filters emit (read from their source)
  and every selector filters by `namespace=~"$namespace"` and
  `app=~"$workload"`.

    python3 examples/grafana/check.py   # exits 1 and names each problem
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples/grafana/meshwasm-dashboard.json"
DATASOURCE = "${datasource}"
FILTERS = ('namespace=~"$namespace"', 'app=~"$workload"')
# The series Prometheus reads from a histogram (the metrics filter's are in
# milliseconds or bytes).
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def series(name):
    """The names Prometheus has for a metric the filters define."""
    histogram = name.endswith(("_milliseconds", "_bytes"))
    return [name + s for s in HISTOGRAM_SUFFIXES] if histogram else [name]


def code(path):
    """A source file without its test module; nothing for a test file."""
    if path.name in ("tests.rs", "props.rs") or "tests" in path.relative_to(ROOT).parts:
        return ""
    return path.read_text().split("#[cfg(test)]")[0]


def emitted():
    """(names under the metrics filter's prefix, fixed meshwasm_ names)."""
    prefixed, fixed = set(), set()
    for path in (ROOT / "filters/metrics/src").rglob("*.rs"):
        text = code(path)
        prefixed.update(re.findall(r"\{prefix\}_([a-z_]+)", text))
        prefixed.update(re.findall(r'\bname\("([a-z_]+)"\)', text))
    for name in ("auth", "rate-limit", "header-router"):
        for path in (ROOT / "filters" / name / "src").rglob("*.rs"):
            fixed.update(re.findall(r'"meshwasm_([a-z_]+)"', code(path)))
    if not {"requests_total", "request_duration_milliseconds"} <= prefixed or not fixed:
        sys.exit(f"check.py: cannot find the metric names in {ROOT / 'filters'}; update emitted()")
    return prefixed, fixed


# A metric with its selector: `${prefix}_requests_total{...}`, `meshwasm_x{...}`.
SELECTED = re.compile(r"((?:\$\{prefix\}|\$prefix)?[A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})")
# A meshwasm metric without a selector.
BARE = re.compile(r"(?:\$\{prefix\}|\$prefix|\bmeshwasm)_[A-Za-z0-9_:]+(?![A-Za-z0-9_:{])")


def main():
    dashboard = json.loads(DASHBOARD.read_text())
    prefixed, fixed = emitted()
    problems = []

    inputs = dashboard.get("__inputs", [])
    if not any(
        i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource" and i.get("pluginId") == "prometheus"
        for i in inputs
    ):
        problems.append("__inputs: no datasource input DS_PROMETHEUS for prometheus (import would not ask for it)")
    if not any(r.get("type") == "datasource" and r.get("id") == "prometheus" for r in dashboard.get("__requires", [])):
        problems.append("__requires: no prometheus datasource")

    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("templating: no `datasource` variable of type datasource for prometheus")
    elif ds.get("current", {}).get("value") != "${DS_PROMETHEUS}":
        problems.append("templating: the `datasource` variable does not default to the imported ${DS_PROMETHEUS}")
    prefix = variables.get("prefix", {})
    if prefix.get("type") not in ("textbox", "constant", "custom") or prefix.get("query") != "meshwasm":
        problems.append("templating: no `prefix` variable defaulting to meshwasm")
    for name, label in (("namespace", "namespace"), ("workload", "app")):
        query = variables.get(name, {}).get("query", "")
        if variables.get(name, {}).get("type") != "query" or not re.fullmatch(
            rf"label_values\(\$\{{prefix\}}_requests_total(\{{[^}}]*\}})?, {label}\)", query
        ):
            problems.append(f"templating: no `{name}` variable with label_values(${{prefix}}_requests_total, {label})")
    for name, variable in variables.items():
        if variable.get("type") == "query" and variable.get("datasource", {}).get("uid") != DATASOURCE:
            problems.append(f"templating: variable `{name}` does not read from {DATASOURCE}")

    def check_metrics(where, expr, filters=FILTERS):
        found = SELECTED.findall(expr) + [(bare, "") for bare in BARE.findall(expr)]
        if not found:
            problems.append(f"{where}: names no metric: {expr}")
        for metric, selector in found:
            if metric.startswith("${prefix}_"):
                name = metric.removeprefix("${prefix}_")
                if not any(name in series(n) for n in prefixed):
                    problems.append(f"{where}: {metric} is not a metric the metrics filter emits")
            elif metric.startswith("$prefix"):
                problems.append(f"{where}: {metric} reads as the variable ${metric[1:]}; write ${{prefix}}_")
            elif metric.startswith("meshwasm_") and metric.removeprefix("meshwasm_") in fixed:
                pass
            elif metric.startswith("meshwasm_"):
                problems.append(f"{where}: {metric} hard-codes the prefix (write ${{prefix}}_...)")
            else:
                problems.append(f"{where}: {metric} is not a metric meshwasm emits")
            for wanted in filters:
                if wanted not in selector:
                    problems.append(f"{where}: {metric} is not filtered by {wanted}")

    for name, variable in variables.items():
        if variable.get("type") == "query":
            filters = {"namespace": (), "workload": FILTERS[:1]}.get(name, FILTERS)
            check_metrics(f"variable `{name}`", variable.get("query", ""), filters)

    panels = dashboard.get("panels", [])
    if not panels:
        problems.append("no panels")
    for panel in panels:
        where = f"panel {panel.get('id')} ({panel.get('title')})"
        panel_ds = panel.get("datasource", {}).get("uid")
        if panel_ds != DATASOURCE:
            problems.append(f"{where}: does not read from {DATASOURCE}")
        if not panel.get("targets"):
            problems.append(f"{where}: no targets")
        for target in panel.get("targets", []):
            at = f"{where} target {target.get('refId')}"
            if target.get("datasource", {}).get("uid", panel_ds) != DATASOURCE:
                problems.append(f"{at}: does not read from {DATASOURCE}")
            check_metrics(at, target.get("expr", ""))

    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if problems:
        sys.exit(f"check.py: {DASHBOARD.relative_to(ROOT)}: {len(problems)} problem(s)")
    print(f"valid: {DASHBOARD.relative_to(ROOT)} ({len(panels)} panels)")


if __name__ == "__main__":
    main()
