//! Layer 5: answering requests: the API (the webhook receiver included), the acceptor and its request heads, client addresses behind proxies, throttling, the pages, the state handlers share.

pub mod acceptor;
pub mod api;
pub mod http_head;
pub mod proxy;
pub mod state;
pub mod throttle;
pub mod ui;
