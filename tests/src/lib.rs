//! The cluster harness for end-to-end tests: a real `redis-server` on a free port (or a real Redis
//! Cluster or Sentinel setup, `redis_cluster` and `redis_sentinel`; `TWINWIRE_TEST_REDIS=cluster`
//! switches the suite), real `twinwire-hub` and `twinwire-gateway` processes, and WebSocket
//! clients that speak to them over real sockets. Nothing is mocked. A missing tool is a test failure with a message saying what to
//! install, never a silent skip.

pub mod canary;
pub mod changes;
pub mod chromium;
pub mod client;
pub mod cluster;
pub mod http;
pub mod locate;
pub mod metrics;
pub mod nginx;
pub mod process;
pub mod redis_cluster;
pub mod redis_load;
pub mod redis_sentinel;
pub mod redis_server;

pub use chromium::{Chromium, PageEvent};
pub use client::{Client, Frame};
pub use cluster::{
    wait_ready, write_htpasswd, Cluster, ClusterOptions, Gateway, Hub, RedisBackend, REDIS_SWITCH,
    USERS,
};
pub use http::{
    api_call, basic_auth, http_exchange, http_get, http_get_status, http_request, HttpAnswer,
};
pub use locate::{bin_dir, binary, repo_root, require_tool};
pub use metrics::{metric_series, metric_sum, scrape_metrics};
pub use nginx::Nginx;
pub use process::{free_port, Proc};
pub use redis_cluster::{shared_seeds, RedisCluster};
pub use redis_sentinel::RedisSentinel;
pub use redis_server::Redis;
