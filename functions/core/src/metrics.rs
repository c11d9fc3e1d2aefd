//! CloudWatch Embedded Metric Format: metrics as one structured log line, no API call.

use crate::cause::Cause;
use crate::diagnosis::Diagnosis;
use serde_json::{json, Map, Value};

/// The namespace every metric of the remediator goes to.
pub const NAMESPACE: &str = "BankIdRemediator";

/// One EMF line for an invocation: a count per cause (each cause id is a metric), the lines
/// examined and rejected, dimensioned by function; the diagnosed cause rides along as a property
/// for Logs Insights.
pub fn diagnosis_emf(function: &str, diagnosis: &Diagnosis, timestamp_ms: i64) -> String {
    let mut metrics: Vec<Value> = Cause::ALL
        .iter()
        .map(|c| json!({"Name": c.id(), "Unit": "Count"}))
        .collect();
    metrics.push(json!({"Name": "lines_examined", "Unit": "Count"}));
    metrics.push(json!({"Name": "lines_rejected", "Unit": "Count"}));

    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics,
            }],
        }),
    );
    doc.insert("Function".into(), function.into());
    for cause in Cause::ALL {
        doc.insert(cause.id().into(), diagnosis.counts.get(cause).into());
    }
    doc.insert("lines_examined".into(), diagnosis.lines_examined.into());
    doc.insert("lines_rejected".into(), diagnosis.lines_rejected.into());
    doc.insert(
        "cause".into(),
        diagnosis.cause.map_or(Value::Null, |c| c.id().into()),
    );
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::diagnose_lines;

    #[test]
    fn every_declared_metric_has_a_value() {
        let d = diagnose_lines(["BankID OAuth error: invalid_client"]);
        let line = diagnosis_emf("triage", &d, 1_764_849_600_000);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let declared = &v["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        for m in declared.as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_u64(), "{name} has no value");
        }
        assert_eq!(v["invalid_credentials"], 1);
        assert_eq!(v["cause"], "invalid_credentials");
        assert_eq!(v["_aws"]["Timestamp"], 1_764_849_600_000_i64);
    }
}
