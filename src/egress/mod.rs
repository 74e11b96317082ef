//! Egress for sandboxes that may reach the network only through drover: the policy of
//! what may be reached (`policy`), the proxy that enforces it (`proxy`), and the TLS
//! check that keeps a tunnel to the host it was opened for (`tls`). The engine runs a
//! proxy per task and tells front ends what it blocked; nothing here knows tasks or
//! containers.

pub mod model;
pub mod policy;
pub mod presets;
pub mod proxy;
mod tls;

pub use model::{Auth, ModelRoutes, Upstream};
pub use policy::{Policy, Refusal, Rule};
pub use proxy::{Blocked, Proxy};

#[cfg(test)]
mod tests;
