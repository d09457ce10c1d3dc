//! Test doubles shared by the unit tests of several layers.
