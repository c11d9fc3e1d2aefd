"""Checks infra/template.yaml against the code it deploys.

1. The subscription filter, every per-cause metric filter, the callback-failures filter and
   their alarms use exactly the patterns and thresholds of the cause table, as printed by
   `remediator filter-patterns` (one table drives the classifier and the infrastructure).
2. No IAM statement allows a mutating action on a wildcard resource, or a wildcard action.

Usage: check_template.py TEMPLATE PATTERNS_JSON. Exits 1 naming every problem.
"""

import copy
import json
import sys

from cfnlint.decode import decode

# Actions that only read; every other action is mutating and needs a named resource.
READ_ONLY_PREFIXES = ("Get", "Describe", "List", "FilterLogEvents", "BatchGet", "Query", "Scan")


def statements(resources):
    """Every (resource name, statement) of inline IAM policies and SAM function policies."""
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        documents = []
        if resource.get("Type") == "AWS::IAM::Role":
            documents += [p.get("PolicyDocument", {}) for p in props.get("Policies", [])]
        if resource.get("Type") == "AWS::IAM::Policy":
            documents.append(props.get("PolicyDocument", {}))
        if resource.get("Type") == "AWS::Serverless::Function":
            for policy in props.get("Policies", []) or []:
                if isinstance(policy, dict) and "Statement" in policy:
                    documents.append(policy)
        for document in documents:
            found = document.get("Statement", [])
            for statement in found if isinstance(found, list) else [found]:
                yield name, statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def check_policies(resources, problems):
    for name, statement in statements(resources):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
        for action in actions:
            if "*" in action:
                problems.append(f"{name}: wildcard action {action}")
        mutating = [
            a for a in actions if not a.split(":", 1)[-1].startswith(READ_ONLY_PREFIXES)
        ]
        for resource in as_list(statement.get("Resource", [])):
            if resource == "*" and mutating:
                problems.append(f"{name}: {', '.join(mutating)} allowed on Resource '*'")
        if "NotResource" in statement:
            problems.append(f"{name}: NotResource grants everything else")


def of_type(resources, kind):
    return {n: r.get("Properties", {}) for n, r in resources.items() if r.get("Type") == kind}


def check_filters(resources, patterns, problems):
    namespace = patterns["namespace"]
    subscriptions = of_type(resources, "AWS::Logs::SubscriptionFilter")
    if [p.get("FilterPattern") for p in subscriptions.values()] != [patterns["subscription"]]:
        problems.append("the subscription filter's pattern is not remediator's subscription pattern")

    metric_filters = {}
    for name, props in of_type(resources, "AWS::Logs::MetricFilter").items():
        for t in props.get("MetricTransformations", []):
            if t.get("MetricNamespace") != namespace:
                problems.append(f"{name}: metric namespace is not {namespace}")
            metric_filters[t.get("MetricName")] = props.get("FilterPattern")
    expected = dict(patterns["metrics"])
    expected["callback_failures"] = patterns["callback_failures"]
    for metric, pattern in expected.items():
        if metric not in metric_filters:
            problems.append(f"no metric filter for {metric}")
        elif metric_filters[metric] != pattern:
            problems.append(f"the {metric} metric filter's pattern differs from the cause table's")
    for metric in set(metric_filters) - set(expected):
        problems.append(f"metric filter {metric} is not in the cause table")

    alarms = {
        p.get("MetricName"): (n, p)
        for n, p in of_type(resources, "AWS::CloudWatch::Alarm").items()
        if p.get("Namespace") == namespace
    }
    thresholds = {c: (n, "GreaterThanOrEqualToThreshold") for c, n in patterns["min_lines"].items()}
    thresholds["callback_failures"] = (patterns["callback_failures_per_minute"], "GreaterThanThreshold")
    for metric in expected:
        if metric not in alarms:
            problems.append(f"no alarm on {metric}")
            continue
        name, props = alarms[metric]
        threshold, operator = thresholds[metric]
        if props.get("Threshold") != threshold or props.get("ComparisonOperator") != operator:
            problems.append(f"{name}: expected {operator} {threshold}")
        if props.get("Period") != 60:
            problems.append(f"{name}: the cause table's thresholds are per minute")
        for key in ("AlarmActions", "OKActions"):
            if {"Fn::GetAtt": ["TriageFunction", "Arn"]} not in props.get(key, []):
                problems.append(f"{name}: {key} must invoke triage")


def problems_of(resources, patterns):
    problems = []
    check_filters(resources, patterns, problems)
    check_policies(resources, problems)
    return problems


def self_test(resources, patterns):
    """The checks must catch drift: each mutation of a good template is reported."""
    mutations = {
        "the rate_limited metric filter's pattern differs": lambda r: r["RateLimitedMetricFilter"][
            "Properties"
        ].update(FilterPattern='?"rate_limit_exceeded"'),
        "allowed on Resource '*'": lambda r: r["TriageRole"]["Properties"]["Policies"][0][
            "PolicyDocument"
        ]["Statement"][3].update(Resource="*"),
        "wildcard action sns:*": lambda r: r["EscalateRole"]["Properties"]["Policies"][0][
            "PolicyDocument"
        ]["Statement"][4].update(Action="sns:*"),
        "InvalidStateAlarm: expected GreaterThanOrEqualToThreshold 3": lambda r: r[
            "InvalidStateAlarm"
        ]["Properties"].update(Threshold=1),
        "no metric filter for network": lambda r: r.pop("NetworkMetricFilter"),
    }
    failures = []
    for expected, mutate in mutations.items():
        drifted = copy.deepcopy(resources)
        mutate(drifted)
        if not any(expected in p for p in problems_of(drifted, patterns)):
            failures.append(f"self-test: a drift was not caught ({expected})")
    return failures


def main():
    template_path, patterns_path = sys.argv[1], sys.argv[2]
    template, matches = decode(template_path)
    if matches:
        print("\n".join(str(m) for m in matches))
        return 1
    with open(patterns_path, encoding="utf-8") as f:
        patterns = json.load(f)
    resources = template.get("Resources", {})
    problems = self_test(resources, patterns) + problems_of(resources, patterns)
    for p in problems:
        print(f"{template_path}: {p}")
    if not problems:
        print(f"{template_path}: filter patterns, alarms and IAM policies agree with the code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
