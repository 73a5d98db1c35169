package lxc

// Test helpers shared with the external lxc_test package.
var (
	RequireLXC       = requireLXC
	TestRootfs       = testRootfs
	NewRealBackend   = newRealBackend
	RequireNoNetwork = requireNoNetwork
)
