//! Layer 5: answering requests: the acceptor and its request heads, client addresses behind proxies, throttling, the pages, the state handlers share.

pub mod acceptor;
pub mod http_head;
pub mod proxy;
pub mod state;
pub mod throttle;
pub mod ui;
