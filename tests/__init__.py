"""Project-wide tests, the WattiVahti simulator and the real-server fixtures."""
