"""The OpenSearch plumbing: the client and its connection, the indexer, the decision log and the
Dashboards objects."""
