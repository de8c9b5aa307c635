"""The `claimwatch demo` site: a loopback server and versioned fixtures of the cited sources."""
