//! Tests of the real `provenant` executable: started on port 0, read from its stderr, stopped
//! with signals.

mod crash;
mod fixture;
mod smoke;
