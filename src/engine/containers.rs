//! Containers: the list and inspect calls discovery needs.
