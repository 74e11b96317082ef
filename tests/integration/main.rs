//! Integration tests: the real `drover` binary, real Docker, real git.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

mod bad_input;
mod baseline;
mod best_of;
mod common;
mod daemon;
mod docker_outage;
mod egress;
mod environments;
mod fake_github;
mod fake_llm;
mod git_http;
mod git_server;
mod guardrails;
mod htb_faults;
mod htb_repo;
mod htb_secrets;
mod htb_user_repo;
mod htb_verify;
mod htb_workspace;
mod images;
mod isolation;
mod issues;
mod llm_agent;
mod llm_providers;
mod pr_loop;
mod push;
mod radar;
mod reattach;
mod reliability;
mod task_flow;
mod tmux;
mod tui_e2e;
mod tui_review;
mod warm_pool;
