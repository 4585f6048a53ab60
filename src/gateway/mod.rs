//! A faithful fake of the Qimen gateway over real HTTP on loopback, for tests and the demo.
