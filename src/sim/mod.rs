//! Simulated tenants: the seeded world (the ground truth every vendor simulator serves), the
//! shared simulator machinery (state, fault plans, the gate), and the simulators of the
//! non-vendor peers (Jira, ServiceNow, chat, LLM). Each vendor's own emitter and routes live
//! in `vendors/<v>/sim/`. Used by `sitrep sim`/`demo`, the tests and the benches; production
//! modules never import it.

pub mod server;
pub mod world;
