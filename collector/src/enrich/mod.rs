//! What the collector adds to an event from the request around it, before it is stored:
//! the browser, OS and device classes of the User-Agent ([`agent`]), the source class of
//! the referrer and UTM tags ([`source`]), and the country of the client address from a
//! configured table ([`geo`]).

pub mod agent;
pub mod geo;
pub mod source;
