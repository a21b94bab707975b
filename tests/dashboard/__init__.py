"""Dashboard tests: pages over HTTP, the chart geometry, and a real browser."""
