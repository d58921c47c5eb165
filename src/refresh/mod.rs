//! Bringing a runtime's containers onto a newly pulled image.
