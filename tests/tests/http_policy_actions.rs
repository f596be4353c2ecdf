//! Ditto's policy actions on HTTP (`…/actions/(activate|deactivate)TokenIntegration`, at the
//! policy and at an entry): a caller without a JWT gets Ditto's 400 `policies:action.failed`;
//! only POST is taken. (Why a JWT caller gets 501: `gateway::http::policy_actions`.)

use serde_json::json;
use twinwire_tests::{api_call, Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_integration_without_a_jwt_is_dittos_400() {
    let c = Cluster::start(ClusterOptions::default()).await;
    for (path, action) in [
        (
            "/api/2/policies/org.pa:p/actions/activateTokenIntegration",
            "activateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/actions/deactivateTokenIntegration",
            "deactivateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/entries/owner/actions/activateTokenIntegration",
            "activateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/entries/owner/actions/deactivateTokenIntegration",
            "deactivateTokenIntegration",
        ),
    ] {
        let a = api_call(&c, ("ditto", "ditto"), "POST", path, Some("{}")).await;
        assert_eq!(
            (a.status, a.json()),
            (
                400,
                json!({"status": 400, "error": "policies:action.failed",
                    "message": format!("Failed to execute action '{action}'."),
                    "description": "Policy action is only possible with JWT authentication."})
            ),
            "{path}"
        );
        let a = api_call(&c, ("ditto", "ditto"), "GET", path, None).await;
        assert_eq!((a.status, a.header("allow")), (405, Some("POST")), "{path}");
    }
}
