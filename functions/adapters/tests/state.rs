//! The DynamoDB state store against the moto server: conditional writes do the exactly-once work.

use local_stack::Moto;
use remediator_adapters::state::{Lease, StateStore};
use serde_json::json;

const ARN: &str = "arn:aws:apprunner:eu-west-1:123456789012:service/drop-production/8f3c";
const HOUR: i64 = 3_600_000;
const NOW: i64 = 1_796_353_920_000;

async fn store(moto: &Moto) -> StateStore {
    let client = local_stack::clients::dynamodb(&moto.endpoint);
    local_stack::clients::create_state_table(&client, "bankid-remediator")
        .await
        .unwrap();
    StateStore::new(client, "bankid-remediator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_lock_goes_to_exactly_one_of_twenty() {
    let moto = Moto::start().unwrap();
    let store = store(&moto).await;
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .acquire(ARN, &format!("invocation-{i}"), NOW, 30_000)
                .await
                .unwrap()
        })
    });
    let mut acquired = 0;
    for attempt in attempts {
        if attempt.await.unwrap() == Lease::Acquired {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 1);
    // An expired lease can be taken over; the owner's release of a lock it lost is harmless.
    assert_eq!(
        store
            .acquire(ARN, "late", NOW + 31_000, 30_000)
            .await
            .unwrap(),
        Lease::Acquired
    );
    store.release(ARN, "invocation-0").await.unwrap();
    assert_eq!(
        store
            .acquire(ARN, "third", NOW + 32_000, 30_000)
            .await
            .unwrap(),
        Lease::HeldByAnother
    );
    store.release(ARN, "late").await.unwrap();
    assert_eq!(
        store
            .acquire(ARN, "third", NOW + 33_000, 30_000)
            .await
            .unwrap(),
        Lease::Acquired
    );
}

#[tokio::test]
async fn a_signal_is_recorded_once_and_its_result_read_back() {
    let moto = Moto::start().unwrap();
    let store = store(&moto).await;
    assert_eq!(store.handled("logs:abc").await.unwrap(), None);
    assert!(store
        .record_handled("logs:abc", &json!({"actions": 1}), NOW)
        .await
        .unwrap());
    assert!(!store
        .record_handled("logs:abc", &json!({"actions": 2}), NOW)
        .await
        .unwrap());
    assert_eq!(
        store.handled("logs:abc").await.unwrap(),
        Some(json!({"actions": 1}))
    );
}

#[tokio::test]
async fn deploy_history_counts_per_incident_and_per_day() {
    let moto = Moto::start().unwrap();
    let store = store(&moto).await;
    let empty = store.history(ARN, NOW, HOUR).await.unwrap();
    assert_eq!(
        (
            empty.deploys_this_incident,
            empty.deploys_today,
            empty.last_deploy_ms
        ),
        (0, 0, None)
    );

    store.record_deploy(ARN, NOW, HOUR).await.unwrap();
    store.record_deploy(ARN, NOW + 600_000, HOUR).await.unwrap();
    store
        .record_failed_action(
            ARN,
            "update_environment:BANKID_CLIENT_SECRET",
            NOW + 700_000,
        )
        .await
        .unwrap();
    let h = store.history(ARN, NOW + 700_000, HOUR).await.unwrap();
    assert_eq!((h.deploys_this_incident, h.deploys_today), (2, 2));
    assert_eq!(h.last_deploy_ms, Some(NOW + 600_000));
    assert_eq!(
        h.failed_actions,
        vec!["update_environment:BANKID_CLIENT_SECRET".to_owned()]
    );

    // Two hours on, the incident is over but the day is not.
    let later = store.history(ARN, NOW + 2 * HOUR, HOUR).await.unwrap();
    assert_eq!((later.deploys_this_incident, later.deploys_today), (0, 2));
    assert!(later.failed_actions.is_empty());
}
