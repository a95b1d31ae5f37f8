//! The binary's end-to-end tests, one test binary: each file is a module (the feature it tests), over the
//! shared harness in `common` (servers in-process or as `stoa serve` children, bots, namespaces). One binary
//! links the server and the client once, where a binary per file linked them once per file. The cluster's
//! and Postgres's modules need the Postgres pass's database (scripts/test filters them by name).

mod acme;
mod aiortc;
mod backup;
mod bench;
mod bot;
mod browser;
mod captions;
mod cli;
mod cluster;
mod common;
mod container;
mod e2ee;
mod e2ee_room;
mod egress;
mod faults;
mod https;
mod ice_tcp;
mod media;
mod metrics;
mod networks;
mod package;
mod postgres;
mod restart;
mod srtp;
mod ssrf;
mod upgrades;
mod web;
mod webhooks;
mod whip;
