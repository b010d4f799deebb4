"""Use cases: what the application does (ingest, stream, train, analyse, retention, reset),
over the ports, and the retry buffer channels keep while storage is away."""
