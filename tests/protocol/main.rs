//! Each rule of the Chatter protocol, scripted with two to a dozen nodes on
//! a hand-driven bench (tests/support/chatter.rs): the test moves every
//! frame by hand and looks at exactly what each node sends. One module per
//! concept of src/protocol/.

#[path = "../support/chatter.rs"]
mod bench;

mod admission;
mod announce;
mod anti_entropy;
mod broadcast;
mod connections;
mod expiry;
mod membership;
mod own_writes;
mod swim;
