//! The HTTP surface, as a request meets it: the accept loop and its connection caps
//! ([`server`]), the [`router`] with the admin gate ([`auth`]) around it, CORS ([`cors`]) and
//! the rate limit ([`ratelimit`]) in front of `/collect`, the extractors that read who is
//! asking ([`extract`]), the handlers ([`routes`]), the embedded site and beacon
//! ([`assets`]), and the error boundary that turns a failure into a status ([`error`]).

pub mod assets;
pub mod auth;
pub mod cors;
pub mod error;
pub mod extract;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod server;
